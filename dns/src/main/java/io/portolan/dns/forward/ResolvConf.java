package io.portolan.dns.forward;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads the host's nameservers from resolv.conf, leaving out this server's own addresses. */
public final class ResolvConf {
    private ResolvConf() {
    }

    /**
     * The {@code nameserver} lines of {@code file} as port-53 upstreams, minus any that would reach
     * one of {@code own} (a wildcard listener on port 53 excludes every local address). An unreadable
     * file gives an empty list.
     */
    public static List<InetSocketAddress> upstreams(Path file, List<InetSocketAddress> own) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file);
        } catch (IOException e) {
            return List.of();
        }
        List<InetSocketAddress> out = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 2 || !f[0].equals("nameserver")) {
                continue;
            }
            InetAddress a;
            try {
                a = io.portolan.proto.Validate.address("nameserver", f[1]);
            } catch (IllegalArgumentException e) {
                continue;
            }
            InetSocketAddress u = new InetSocketAddress(a, 53);
            if (!isOwn(u, own)) {
                out.add(u);
            }
        }
        return out;
    }

    static boolean isOwn(InetSocketAddress u, List<InetSocketAddress> own) {
        for (InetSocketAddress o : own) {
            if (o.getPort() != u.getPort()) {
                continue;
            }
            InetAddress oa = o.getAddress();
            if (oa.equals(u.getAddress())) {
                return true;
            }
            if (oa.isAnyLocalAddress() && (u.getAddress().isLoopbackAddress() || isLocal(u.getAddress()))) {
                return true;
            }
        }
        return false;
    }

    private static boolean isLocal(InetAddress a) {
        try {
            return java.net.NetworkInterface.getByInetAddress(a) != null;
        } catch (IOException e) {
            return false;
        }
    }
}
