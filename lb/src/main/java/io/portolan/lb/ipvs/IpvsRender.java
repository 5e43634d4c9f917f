package io.portolan.lb.ipvs;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * {@code render(snapshot) -> Plan}, pure. Firewall marks are stable across restarts without any
 * file: a frontend keeps the mark the kernel already holds for it (read back from the mangle chain,
 * {@code adopted}); a new frontend gets {@code base + fnv1a32(key) mod 2^bits} and, if that mark is
 * taken, the next free one (linear probing, frontends taken in sorted order so every run of the
 * same inputs gives the same answer).
 */
final class IpvsRender {
    private IpvsRender() {
    }

    static Plan render(ClusterSnapshot snapshot, int markBase, int markBits, Map<Frontend, Integer> adopted, Set<Integer> reserved) {
        java.util.Collection<String> problems = new java.util.LinkedHashSet<>();
        Map<Frontend, Draft> drafts = new TreeMap<>();
        for (Service s : snapshot.services().values()) {
            List<Instance> serving = snapshot.servingInstances(s.name());
            if (s.mode() == Mode.VIP && s.vip() != null) {
                if (!(s.vip() instanceof Inet4Address)) {
                    problems.add("service " + s.name() + ": VIP " + s.vip().getHostAddress() + " is IPv6; the ipvs plane programs IPv4 only");
                } else {
                    for (Port sp : s.ports()) {
                        Frontend f = new Frontend(sp.protocol(), s.vip(), sp.number());
                        if (drafts.containsKey(f)) {
                            continue;
                        }
                        drafts.put(f, new Draft(s, reals(s, serving, sp, problems)));
                    }
                }
            }
            for (PublishedPort pp : s.publishedPorts()) {
                Frontend f = new Frontend(pp.protocol(), null, pp.published());
                Draft other = drafts.get(f);
                if (other != null) {
                    if (other.service != s) {
                        problems.add("service " + s.name() + ": published port " + pp.published() + "/" + pp.protocol().lower()
                                + " is already published by service " + other.service.name());
                    }
                    continue;
                }
                drafts.put(f, new Draft(s, reals(s, serving, new Port("", pp.target(), pp.protocol()), problems)));
            }
        }

        int count = 1 << markBits;
        Map<Frontend, Integer> marks = new TreeMap<>();
        Set<Integer> used = new HashSet<>(reserved);
        used.addAll(adopted.values());
        Set<Integer> given = new HashSet<>();
        for (Frontend f : drafts.keySet()) {
            Integer m = adopted.get(f);
            if (m != null && (m & ~(count - 1)) == markBase && given.add(m)) {
                marks.put(f, m);
            }
        }
        for (Frontend f : drafts.keySet()) {
            if (marks.containsKey(f)) {
                continue;
            }
            int offset = Integer.remainderUnsigned(fnv1a(f.key()), count);
            Integer m = null;
            for (int probe = 0; probe < count; probe++) {
                int candidate = markBase + ((offset + probe) & (count - 1));
                if (!used.contains(candidate) && !given.contains(candidate)) {
                    m = candidate;
                    break;
                }
            }
            if (m == null) {
                problems.add("service " + drafts.get(f).service.name() + ": " + f + ": no free firewall mark left in the range of "
                        + count + " (raise --ipvs-mark-bits)");
                continue;
            }
            given.add(m);
            marks.put(f, m);
        }

        SortedMap<Integer, Plan.VirtualService> services = new TreeMap<>();
        TreeSet<InetAddress> vips = new TreeSet<>((a, b) -> Addresses.sortKey(a).compareTo(Addresses.sortKey(b)));
        marks.forEach((f, m) -> {
            Draft d = drafts.get(f);
            services.put(m, new Plan.VirtualService(m, f, d.service.name(), d.service.scheduler(), d.reals));
            if (f.vip() != null) {
                vips.add(f.vip());
            }
        });
        return new Plan(services, vips, List.copyOf(problems));
    }

    private record Draft(Service service, SortedMap<Plan.RealServer, Integer> reals) {
    }

    private static SortedMap<Plan.RealServer, Integer> reals(Service s, List<Instance> serving, Port servicePort, java.util.Collection<String> problems) {
        SortedMap<Plan.RealServer, Integer> reals = new TreeMap<>();
        for (Instance i : serving) {
            if (!(i.address() instanceof Inet4Address)) {
                problems.add("service " + s.name() + ": instance " + i.id() + " at " + i.address().getHostAddress()
                        + " is IPv6; the ipvs plane programs IPv4 only");
                continue;
            }
            int port;
            if (i.ports().isEmpty()) {
                port = servicePort.number();
            } else {
                Port p = i.portFor(servicePort);
                if (p == null) {
                    continue;
                }
                port = p.number();
            }
            reals.merge(new Plan.RealServer(i.address(), port), i.weight(), Math::max);
        }
        return reals;
    }

    /** FNV-1a, 32 bits, over the UTF-8 bytes of {@code s}. */
    static int fnv1a(String s) {
        int h = 0x811c9dc5;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x01000193;
        }
        return h;
    }
}
