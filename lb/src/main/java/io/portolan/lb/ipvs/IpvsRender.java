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

    /**
     * Memory between renders that changes how fast, never what, {@link #render} returns: a service
     * whose definition and serving instances are the same objects as last time reuses its real-server
     * maps, and a virtual service equal to last time's is the same object (so the diff can skip it).
     */
    static final class Cache {
        private record Entry(Service service, List<Instance> serving, Map<Port, Reals> reals) {
        }

        private Map<String, Entry> services = new java.util.HashMap<>();
        private Map<Integer, Plan.VirtualService> byMark = Map.of();
        // the last full render's inputs and outputs, for the fast path
        private Plan plan;
        private Map<MarkedPort, Integer> adopted;
        private Set<Integer> reserved;
        private int markBase;
        private int markBits;
        private Map<MarkedPort, Integer> marks;
        // the snapshot the last render (either path) was made from: ClusterSnapshot.changedSince's base
        private ClusterSnapshot snapshot;
        // the last fast-path render: the plan it started from and the marks whose service it replaced
        private Plan patchedFrom;
        private Set<Integer> patchedMarks;

        /**
         * The marks whose virtual service differs between {@code previous} and the last render's
         * plan, when that render was a fast-path one starting from {@code previous} (it adds and
         * removes no marks); null otherwise (the diff then compares every mark).
         */
        Set<Integer> changedSince(Plan previous) {
            return previous != null && previous == patchedFrom ? patchedMarks : null;
        }
    }

    /**
     * The fast path: when every service is the same object as at the last render and the adopted
     * marks and reserved set are the same objects, the frontends and their marks cannot have
     * changed; only services whose serving instances changed get new real servers. The result is
     * equal to a full render's (tests check this after every step). Null when it does not apply.
     */
    private static Plan patch(ClusterSnapshot snapshot, int markBase, int markBits, Map<MarkedPort, Integer> adopted, Set<Integer> reserved,
                              Cache cache) {
        Plan prev = cache.plan;
        cache.patchedFrom = null;
        if (prev == null || cache.adopted != adopted || cache.reserved != reserved || cache.markBase != markBase
                || cache.markBits != markBits || snapshot.services().size() != cache.services.size()) {
            return null;
        }
        List<Service> changed = new ArrayList<>();
        // The registry's snapshots say which names they changed since the last one rendered: only
        // those are looked at (O(changes)); otherwise every service is compared by identity.
        Set<String> names = snapshot.changedSince(cache.snapshot);
        java.util.Collection<Service> candidates;
        if (names == null) {
            candidates = snapshot.services().values();
        } else {
            candidates = new ArrayList<>(names.size());
            for (String name : names) {
                Service s = snapshot.services().get(name);
                if (s == null) {
                    if (cache.services.containsKey(name)) {
                        return null; // a service went (with the size check: another came)
                    }
                    continue; // instances of a service that is not defined
                }
                candidates.add(s);
            }
        }
        for (Service s : candidates) {
            Cache.Entry e = cache.services.get(s.name());
            if (e == null || e.service != s) {
                return null;
            }
            if (!sameElements(e.serving, snapshot.servingInstances(s.name()))) {
                if (!s.publishedPorts().isEmpty() || changed.size() == 64) {
                    return null; // published ports can conflict across services: leave it to the full render
                }
                changed.add(s);
            }
        }
        if (changed.isEmpty()) {
            cache.patchedFrom = prev;
            cache.patchedMarks = Set.of();
            return prev;
        }
        SortedMap<Integer, Plan.VirtualService> services = new TreeMap<>(prev.services());
        Set<Integer> patched = new HashSet<>();
        for (Service s : changed) {
            List<Instance> serving = snapshot.servingInstances(s.name());
            Cache.Entry old = cache.services.get(s.name());
            for (Reals r : old.reals.values()) {
                if (!r.problems.isEmpty()) {
                    return null;
                }
            }
            Cache.Entry entry = new Cache.Entry(s, serving, new java.util.HashMap<>());
            if (s.mode() == Mode.VIP && s.vip() instanceof Inet4Address) {
                for (Port sp : s.ports()) {
                    MarkedPort f = new MarkedPort(sp.protocol(), s.vip(), sp.number());
                    Integer m = cache.marks.get(f);
                    if (m == null) {
                        continue;
                    }
                    Plan.VirtualService was = services.get(m);
                    if (was == null || !was.service().equals(s.name())) {
                        return null; // the frontend belongs to another service (duplicate VIP): full render
                    }
                    Reals r = entry.reals.computeIfAbsent(sp, k -> reals(s, serving, k));
                    if (!r.problems.isEmpty()) {
                        return null;
                    }
                    services.put(m, new Plan.VirtualService(m, f, s.name(), s.scheduler(), r.map));
                    patched.add(m);
                }
            }
            cache.services.put(s.name(), entry);
        }
        cache.byMark = services;
        Plan plan = new Plan(services, prev.vips(), prev.problems());
        cache.plan = plan;
        cache.patchedFrom = prev;
        cache.patchedMarks = patched;
        return plan;
    }

    static Plan render(ClusterSnapshot snapshot, int markBase, int markBits, Map<MarkedPort, Integer> adopted, Set<Integer> reserved) {
        return render(snapshot, markBase, markBits, adopted, reserved, new Cache());
    }

    static Plan render(ClusterSnapshot snapshot, int markBase, int markBits, Map<MarkedPort, Integer> adopted, Set<Integer> reserved,
                       Cache cache) {
        Plan fast = patch(snapshot, markBase, markBits, adopted, reserved, cache);
        cache.snapshot = null; // set again only once a render completes
        if (fast != null) {
            cache.snapshot = snapshot;
            return fast;
        }
        Plan full = renderAll(snapshot, markBase, markBits, adopted, reserved, cache);
        cache.snapshot = snapshot;
        return full;
    }

    private static Plan renderAll(ClusterSnapshot snapshot, int markBase, int markBits, Map<MarkedPort, Integer> adopted,
                                  Set<Integer> reserved, Cache cache) {
        java.util.Collection<String> problems = new java.util.LinkedHashSet<>();
        Map<MarkedPort, Draft> drafts = new java.util.HashMap<>();
        Map<String, Cache.Entry> nextCache = new java.util.HashMap<>();
        for (Service s : snapshot.services().values()) {
            List<Instance> serving = snapshot.servingInstances(s.name());
            Cache.Entry prev = cache.services.get(s.name());
            Cache.Entry entry = prev != null && prev.service == s && sameElements(prev.serving, serving) ? prev
                    : new Cache.Entry(s, serving, new java.util.HashMap<>());
            nextCache.put(s.name(), entry);
            if (s.mode() == Mode.VIP && s.vip() != null) {
                if (!(s.vip() instanceof Inet4Address)) {
                    problems.add("service " + s.name() + ": VIP " + s.vip().getHostAddress() + " is IPv6; the ipvs plane programs IPv4 only");
                } else {
                    for (Port sp : s.ports()) {
                        MarkedPort f = new MarkedPort(sp.protocol(), s.vip(), sp.number());
                        if (drafts.containsKey(f)) {
                            continue;
                        }
                        Reals r = entry.reals.computeIfAbsent(sp, k -> reals(s, serving, k));
                        problems.addAll(r.problems);
                        drafts.put(f, new Draft(s, r.map));
                    }
                }
            }
            for (PublishedPort pp : s.publishedPorts()) {
                MarkedPort f = new MarkedPort(pp.protocol(), null, pp.published());
                Draft other = drafts.get(f);
                if (other != null) {
                    if (other.service != s) {
                        problems.add("service " + s.name() + ": published port " + pp.published() + "/" + pp.protocol().lower()
                                + " is already published by service " + other.service.name());
                    }
                    continue;
                }
                Reals r = entry.reals.computeIfAbsent(new Port("", pp.target(), pp.protocol()), k -> reals(s, serving, k));
                problems.addAll(r.problems);
                drafts.put(f, new Draft(s, r.map));
            }
        }

        int count = 1 << markBits;
        Map<MarkedPort, Integer> marks = new java.util.HashMap<>(drafts.size() * 2);
        Set<Integer> given = new HashSet<>();
        boolean duplicate = adopt(drafts.keySet(), adopted, markBase, count, given, marks);
        if (duplicate) {
            // two frontends claim one mark (someone edited the chain): the first in sorted order keeps it
            given.clear();
            marks.clear();
            adopt(new java.util.TreeSet<>(drafts.keySet()), adopted, markBase, count, given, marks);
        }
        List<MarkedPort> fresh = new ArrayList<>();
        for (MarkedPort f : drafts.keySet()) {
            if (!marks.containsKey(f)) {
                fresh.add(f);
            }
        }
        fresh.sort(null); // new frontends probe in sorted order: the same inputs always give the same marks
        Set<Integer> used = null; // built only when some frontend needs a new mark
        for (MarkedPort f : fresh) {
            if (used == null) {
                used = new HashSet<>(reserved);
                used.addAll(adopted.values());
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
        TreeSet<InetAddress> vips = new TreeSet<>(Addresses::compare);
        marks.forEach((f, m) -> {
            Draft d = drafts.get(f);
            Plan.VirtualService before = cache.byMark.get(m);
            boolean same = before != null && before.reals() == d.reals && before.frontend().equals(f)
                    && before.service().equals(d.service.name()) && before.scheduler().equals(d.service.scheduler());
            services.put(m, same ? before : new Plan.VirtualService(m, f, d.service.name(), d.service.scheduler(), d.reals));
            if (f.vip() != null) {
                vips.add(f.vip());
            }
        });
        cache.services = nextCache;
        cache.byMark = services;
        Plan plan = new Plan(services, vips, List.copyOf(problems));
        cache.plan = plan;
        cache.adopted = adopted;
        cache.reserved = reserved;
        cache.markBase = markBase;
        cache.markBits = markBits;
        cache.marks = marks;
        return plan;
    }

    private record Draft(Service service, SortedMap<Plan.RealServer, Integer> reals) {
    }

    /** The real servers of one service port, and what was left out. */
    private record Reals(SortedMap<Plan.RealServer, Integer> map, List<String> problems) {
    }

    private static Reals reals(Service s, List<Instance> serving, Port servicePort) {
        List<String> problems = new ArrayList<>();
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
        return new Reals(reals, problems);
    }

    /** Gives each frontend its adopted mark if it is in range and not given yet; true if one was already given. */
    private static boolean adopt(Set<MarkedPort> frontends, Map<MarkedPort, Integer> adopted, int markBase, int count, Set<Integer> given,
                                 Map<MarkedPort, Integer> marks) {
        boolean duplicate = false;
        for (MarkedPort f : frontends) {
            Integer m = adopted.get(f);
            if (m != null && (m & ~(count - 1)) == markBase) {
                if (given.add(m)) {
                    marks.put(f, m);
                } else {
                    duplicate = true;
                }
            }
        }
        return duplicate;
    }

    private static boolean sameElements(List<Instance> a, List<Instance> b) {
        if (a == b) {
            return true;
        }
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i) != b.get(i)) {
                return false;
            }
        }
        return true;
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
