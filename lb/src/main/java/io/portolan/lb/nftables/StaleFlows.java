package io.portolan.lb.nftables;

import io.portolan.proto.Protocol;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Pure: which frontend → backend pairs a sync took away, read from the fragments the plane rendered before and after
 * (their {@code backends} and {@code published_backends} elements, and the {@code be_…} chains of {@code sh}
 * services). The plane hands them to {@link ConntrackCleaner}, which forgets the kernel's connection-tracking entries
 * that would otherwise keep sending packets to a backend no longer in the table (lb/README.md, "Removed backends and
 * conntrack").
 */
final class StaleFlows {
    /**
     * A frontend (a VIP and port, or, for a published port, any local address: {@code frontend} null) and one backend
     * it no longer reaches.
     */
    record Flow(Protocol protocol, InetAddress frontend, int frontendPort, InetAddress backend, int backendPort) {
        @Override
        public String toString() {
            return protocol.lower() + " " + (frontend == null ? "*" : frontend.getHostAddress()) + ":" + frontendPort + " -> "
                    + backend.getHostAddress() + ":" + backendPort;
        }
    }

    private static final Pattern IPV4 = Pattern.compile("(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})");
    private static final Pattern AFFINITY_DNAT = Pattern.compile("meta l4proto (tcp|udp) dnat to ([0-9.]+):(\\d+)");

    private StaleFlows() {
    }

    /**
     * The flows of {@code owners} (null: every service in either ruleset) that {@code before} had and {@code after}
     * has not. Services in {@code skip} (whose change the kernel refused: their old rules stay) are left out.
     */
    static Set<Flow> removed(Ruleset before, Ruleset after, Collection<String> owners, Set<String> skip) {
        Set<Flow> out = new LinkedHashSet<>();
        if (before == null || before == after) {
            return out;
        }
        Collection<String> names = owners;
        if (names == null) {
            Set<String> all = new HashSet<>(before.services().keySet());
            all.addAll(after.services().keySet());
            names = all;
        }
        for (String name : names) {
            Fragment was = before.service(name);
            Fragment is = after.service(name);
            if (was == null || was == is || skip.contains(name) || was.equals(is)) {
                continue;
            }
            Set<Flow> gone = of(was);
            if (is != null) {
                gone.removeAll(of(is));
            }
            out.addAll(gone);
        }
        return out;
    }

    /** Every frontend → backend pair one service's fragment programs. */
    static Set<Flow> of(Fragment f) {
        Set<Flow> out = new LinkedHashSet<>();
        for (NftObject o : f.objects()) {
            if (o.kind() == NftObject.Kind.ELEMENT && o.value() != null) {
                if (o.container().equals(NftRender.BACKENDS)) {
                    // VIP . proto . port . slot -> address . port
                    String[] k = o.key().split(" \\. ");
                    String[] v = o.value().split(" \\. ");
                    if (k.length == 4 && v.length == 2) {
                        add(out, k[1], ipv4(k[0]), k[2], v[0], v[1]);
                    }
                } else if (o.container().equals(NftRender.PUBLISHED_BACKENDS)) {
                    // proto . port . slot -> address . port
                    String[] k = o.key().split(" \\. ");
                    String[] v = o.value().split(" \\. ");
                    if (k.length == 3 && v.length == 2) {
                        add(out, k[0], null, k[1], v[0], v[1]);
                    }
                }
            } else if (o.kind() == NftObject.Kind.CHAIN && o.key().startsWith("be_") && o.value() != null) {
                // be_SERVICE_[pub_]PROTO_PORT_ADDRESS_PORT (service names have no '_'), rule "... dnat to ADDRESS:PORT"
                String[] n = o.key().split("_");
                Matcher m = AFFINITY_DNAT.matcher(o.value());
                if (!m.find()) {
                    continue;
                }
                boolean published = n.length == 7 && n[2].equals("pub");
                if (n.length == 6 || published) {
                    String port = n[n.length - 3];
                    add(out, m.group(1), published ? null : f.vip(), port, m.group(2), m.group(3));
                }
            }
        }
        return out;
    }

    private static void add(Set<Flow> out, String protocol, InetAddress frontend, String frontendPort, String backend, String backendPort) {
        Protocol p = protocol.equals("tcp") ? Protocol.TCP : protocol.equals("udp") ? Protocol.UDP : null;
        InetAddress b = ipv4(backend);
        int fp = port(frontendPort);
        int bp = port(backendPort);
        if (p != null && b != null && fp > 0 && bp > 0) {
            out.add(new Flow(p, frontend, fp, b, bp));
        }
    }

    private static int port(String s) {
        try {
            int n = Integer.parseInt(s.strip());
            return n >= 1 && n <= 65535 ? n : -1;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** A dotted-quad IPv4 literal (what the render wrote), parsed without any name look-up; null otherwise. */
    static InetAddress ipv4(String s) {
        if (s == null) {
            return null;
        }
        Matcher m = IPV4.matcher(s.strip());
        if (!m.matches()) {
            return null;
        }
        byte[] b = new byte[4];
        for (int i = 0; i < 4; i++) {
            int n = Integer.parseInt(m.group(i + 1));
            if (n > 255) {
                return null;
            }
            b[i] = (byte) n;
        }
        try {
            return (Inet4Address) InetAddress.getByAddress(b);
        } catch (UnknownHostException e) {
            return null;
        }
    }
}
