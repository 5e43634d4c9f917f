package io.portolan.lb.userspace;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Adds a VIP as {@code ip addr add VIP/32 dev DEV} (/128 for IPv6) and removes it with
 * {@code ip addr del}. Always an argv array, never a shell; the VIP is a parsed address and the
 * device a validated interface name. Loopback VIPs (127.0.0.0/8, ::1) are already local and left alone.
 * {@code argvPrefix} is {@code [ip]} normally, {@code [ip, -n, NS]} to act inside a network namespace.
 */
final class IpCommandVipBinder implements VipBinder {
    private static final Logger log = LoggerFactory.getLogger(IpCommandVipBinder.class);

    private final List<String> argvPrefix;
    private final String device;

    IpCommandVipBinder(List<String> argvPrefix, String device) {
        this.argvPrefix = List.copyOf(argvPrefix);
        this.device = UserspaceConfig.parseDevice("vip device", device);
    }

    @Override
    public void add(InetAddress vip) {
        if (vip.isLoopbackAddress()) {
            return;
        }
        Result r = run("add", vip);
        if (r.code != 0 && !r.output.contains("File exists") && !r.output.contains("already assigned")) {
            throw new IllegalStateException("ip addr add " + prefix(vip) + " dev " + device + " failed (exit " + r.code + "): "
                    + r.output.strip() + "; check that the device exists and the agent runs as root");
        }
    }

    @Override
    public void remove(InetAddress vip) {
        if (vip.isLoopbackAddress()) {
            return;
        }
        Result r = run("del", vip);
        if (r.code != 0 && !r.output.contains("Cannot assign requested address")) {
            log.warn("ip addr del {} dev {} failed (exit {}): {}", prefix(vip), device, r.code, r.output.strip());
        }
    }

    private static String prefix(InetAddress vip) {
        return vip.getHostAddress() + (vip instanceof Inet4Address ? "/32" : "/128");
    }

    private record Result(int code, String output) {
    }

    private Result run(String verb, InetAddress vip) {
        List<String> argv = new ArrayList<>(argvPrefix);
        argv.addAll(List.of("addr", verb, prefix(vip), "dev", device));
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out;
            try (InputStream in = p.getInputStream()) {
                out = new String(in.readNBytes(64 * 1024), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, "timed out after 10 s");
            }
            return new Result(p.exitValue(), out);
        } catch (IOException e) {
            return new Result(-1, "cannot run " + argv.get(0) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted");
        }
    }
}
