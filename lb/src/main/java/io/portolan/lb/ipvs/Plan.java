package io.portolan.lb.ipvs;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;

/**
 * What the kernel should hold for one snapshot: an IPVS virtual service per firewall mark, the
 * mangle rule that gives each frontend its mark, and the VIPs bound on the device. {@code problems}
 * are services (or ports) left out, each with the reason, for the log. A value; {@link #text()} is
 * the golden-test form.
 */
record Plan(SortedMap<Integer, VirtualService> services, SortedSet<InetAddress> vips, List<String> problems) {

    /** One IPVS virtual service: {@code -A -f mark -s scheduler} with masquerading real servers. */
    record VirtualService(int mark, MarkedPort frontend, String service, String scheduler, SortedMap<RealServer, Integer> reals) {
    }

    /** A real server's address and port (its weight is the map value). */
    record RealServer(InetAddress address, int port) implements Comparable<RealServer> {
        @Override
        public int compareTo(RealServer o) {
            int c = Addresses.compare(address, o.address);
            return c != 0 ? c : Integer.compare(port, o.port);
        }

        @Override
        public String toString() {
            return address.getHostAddress() + ":" + port;
        }
    }

    Map<MarkedPort, Integer> marks() {
        Map<MarkedPort, Integer> m = new java.util.HashMap<>();
        services.values().forEach(v -> m.put(v.frontend(), v.mark()));
        return m;
    }

    /** Stable text: one line per VIP, per virtual service and per real server, then the problems. */
    String text() {
        StringBuilder b = new StringBuilder();
        for (InetAddress v : vips) {
            b.append("vip ").append(v.getHostAddress()).append('\n');
        }
        for (VirtualService s : services.values()) {
            b.append(String.format("fwmark 0x%08x %s service=%s scheduler=%s%n", s.mark(), s.frontend(), s.service(), s.scheduler()));
            s.reals().forEach((r, w) -> b.append("  real ").append(r).append(" weight=").append(w).append('\n'));
        }
        for (String p : problems) {
            b.append("skipped ").append(p).append('\n');
        }
        return b.toString();
    }
}
