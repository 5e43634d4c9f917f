package io.portolan.lb.nftables;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.proto.Validate;

import java.io.IOException;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * VIPs as /32 addresses on a device, each carrying the label {@code DEVICE:ptl} so that portolan
 * finds (and removes) exactly the addresses it added, after a restart too. {@code ip} argv only.
 */
final class VipDevice {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final NftCommand runner;
    private final String device;

    VipDevice(NftCommand runner, String device) {
        this.runner = runner;
        this.device = device;
    }

    String label() {
        return device + NftConfig.LABEL_SUFFIX;
    }

    /** The addresses on the device that carry portolan's label. */
    Set<InetAddress> list() throws IOException {
        Set<InetAddress> out = new LinkedHashSet<>();
        for (Labelled l : labelled(runner, List.of("ip", "-j", "-4", "addr", "show", "dev", device))) {
            if (l.label().equals(label())) {
                out.add(l.address());
            }
        }
        return out;
    }

    void add(InetAddress vip) throws IOException {
        check(runner.run(List.of("ip", "addr", "add", vip.getHostAddress() + "/32", "dev", device, "label", label()), null), "add", vip);
    }

    void remove(InetAddress vip) throws IOException {
        check(runner.run(List.of("ip", "addr", "del", vip.getHostAddress() + "/32", "dev", device), null), "remove", vip);
    }

    private void check(NftCommand.Result r, String what, InetAddress vip) throws IOException {
        if (r.code() != 0) {
            throw new IOException("cannot " + what + " " + vip.getHostAddress() + "/32 on " + device + ": "
                    + NftCommand.firstLines(r.err(), 2));
        }
    }

    record Labelled(String device, InetAddress address, String label) {
    }

    /** IPv4 addresses of every device whose label ends in {@code :ptl}, for {@code --cleanup}. */
    static List<Labelled> portolanAddresses(NftCommand runner) throws IOException {
        List<Labelled> out = new ArrayList<>();
        for (Labelled l : labelled(runner, List.of("ip", "-j", "-4", "addr", "show"))) {
            if (l.label().endsWith(NftConfig.LABEL_SUFFIX)) {
                out.add(l);
            }
        }
        return out;
    }

    static void remove(NftCommand runner, Labelled l) throws IOException {
        new VipDevice(runner, l.device()).remove(l.address());
    }

    private static List<Labelled> labelled(NftCommand runner, List<String> argv) throws IOException {
        NftCommand.Result r = runner.run(argv, null);
        if (r.code() != 0) {
            throw new IOException(String.join(" ", argv) + ": " + NftCommand.firstLines(r.err(), 2));
        }
        List<Labelled> out = new ArrayList<>();
        String text = r.out().isBlank() ? "[]" : r.out();
        for (JsonNode link : JSON.readTree(text)) {
            String dev = link.path("ifname").asText();
            for (JsonNode a : link.path("addr_info")) {
                if (!"inet".equals(a.path("family").asText()) || a.path("prefixlen").asInt() != 32) {
                    continue;
                }
                out.add(new Labelled(dev, Validate.address("address", a.path("local").asText()), a.path("label").asText(dev)));
            }
        }
        return out;
    }
}
