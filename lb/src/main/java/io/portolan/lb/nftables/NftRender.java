package io.portolan.lb.nftables;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The pure half of the nftables data plane: snapshot in, desired table content out. No I/O.
 *
 * <p>Layout (see the README's kernel contract): the base chains look up {@code VIP . proto . port}
 * in the verdict map {@code vips} (and {@code proto . port} in {@code published} for local
 * destinations), which jumps to {@code slots_N}, the chain for services with N slots; its one rule
 * DNATs through {@code backends}: {@code VIP . proto . port . (numgen random mod N) → address . port}.
 * Weights become slot counts. {@code sh} services get a chain of their own per port instead, with
 * an affinity set (timeout) per instance. Everything a service owns is keyed by values only it has,
 * so a change rewrites that service's elements and nothing else.
 */
final class NftRender {
    static final String VIPS = "vips";
    static final String PUBLISHED = "published";
    static final String BACKENDS = "backends";
    static final String PUBLISHED_BACKENDS = "published_backends";
    static final Set<String> AFFINITY_SCHEDULERS = Set.of("sh", "mh", "dh");
    /** The data side of both backend maps: address and port, for any transport protocol. */
    static final String BACKEND_DATA = "ip daddr . th dport";

    private NftRender() {
    }

    static Ruleset render(ClusterSnapshot snapshot, NftConfig config) {
        SortedMap<String, Fragment> services = new TreeMap<>();
        for (Service s : snapshot.services().values()) {
            services.put(s.name(), renderService(s, snapshot.servingInstances(s.name()), config));
        }
        return new Ruleset(common(config), Collections.unmodifiableSortedMap(services));
    }

    /** The table and its maps, declared on every full sync ({@code add} is idempotent). */
    static List<String> declarations(NftConfig c) {
        String t = "ip " + c.table() + " ";
        return List.of(
                "add table " + t.trim(),
                "add map " + t + VIPS + " { type ipv4_addr . inet_proto . inet_service : verdict; }",
                "add map " + t + PUBLISHED + " { type inet_proto . inet_service : verdict; }",
                // typeof, because the slot is an integer with no type name. The data side names its port "th
                // dport", not "tcp dport": nft 1.0.6 takes a protocol dependency from the map's typeof and, with
                // "tcp dport", put "meta l4proto tcp" in front of the first dnat rule it read using the map (slots_1,
                // pslots_1: every one-slot service port), so UDP went on un-NATed there.
                // The modulus is a constant so that --nft-slots can change without redeclaring the maps.
                "add map " + t + BACKENDS + " { typeof ip daddr . meta l4proto . th dport . numgen random mod 1024 : " + BACKEND_DATA + "; }",
                "add map " + t + PUBLISHED_BACKENDS + " { typeof meta l4proto . th dport . numgen random mod 1024 : " + BACKEND_DATA + "; }");
    }

    /** The base chains and the slot chains: the same for every snapshot. */
    static Fragment common(NftConfig c) {
        List<NftObject> o = new ArrayList<>();
        String lookup = "ip daddr . meta l4proto . th dport vmap @" + VIPS;
        String common = Fragment.COMMON;
        o.add(NftObject.chain("prerouting", "type nat hook prerouting priority dstnat; policy accept;",
                lookup + "\nfib daddr type local meta l4proto . th dport vmap @" + PUBLISHED, common));
        o.add(NftObject.chain("output", "type nat hook output priority -100; policy accept;",
                lookup + "\nfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @" + PUBLISHED, common));
        String mark = c.markHex();
        o.add(NftObject.chain("postrouting", "type nat hook postrouting priority srcnat; policy accept;",
                c.masquerade() == NftConfig.Masquerade.NONE ? ""
                        : "meta mark & " + mark + " != " + mark + " return\nmeta mark set meta mark ^ " + mark + " masquerade fully-random",
                common));
        for (int n = 1; n <= c.slots(); n++) {
            o.add(NftObject.chain(slotChain(n), "", markRule(c, false)
                    + "dnat to ip daddr . meta l4proto . th dport . numgen random mod " + n + " map @" + BACKENDS, common));
            o.add(NftObject.chain(publishedSlotChain(n), "", markRule(c, true)
                    + "dnat to meta l4proto . th dport . numgen random mod " + n + " map @" + PUBLISHED_BACKENDS, common));
        }
        return Fragment.of(common, o, null, List.of());
    }

    private static final int VERDICTS = 1024; // NftConfig's most slots
    private static final String[] SLOT_VERDICTS = new String[VERDICTS + 1];
    private static final String[] PUBLISHED_SLOT_VERDICTS = new String[VERDICTS + 1];

    static {
        for (int n = 1; n <= VERDICTS; n++) {
            SLOT_VERDICTS[n] = "goto " + slotChain(n);
            PUBLISHED_SLOT_VERDICTS[n] = "goto " + publishedSlotChain(n);
        }
    }

    /** {@code goto slots_N} (or {@code pslots_N}): one string per N for the whole process. */
    static String slotVerdict(int n, boolean published) {
        return n >= 1 && n <= VERDICTS ? (published ? PUBLISHED_SLOT_VERDICTS : SLOT_VERDICTS)[n]
                : "goto " + (published ? publishedSlotChain(n) : slotChain(n));
    }

    /** {@code verdict}, or the process's one string with its text when it is a slot chain's. */
    static String verdict(String verdict) {
        boolean published = verdict.startsWith("goto pslots_");
        if (published || verdict.startsWith("goto slots_")) {
            String n = verdict.substring(published ? 12 : 11);
            if (!n.isEmpty() && n.length() <= 4 && n.chars().allMatch(Character::isDigit)) {
                String shared = slotVerdict(Integer.parseInt(n), published);
                if (shared.equals(verdict)) {
                    return shared;
                }
            }
        }
        return verdict;
    }

    static String slotChain(int n) {
        return "slots_" + n;
    }

    static String publishedSlotChain(int n) {
        return "pslots_" + n;
    }

    private static String markRule(NftConfig c, boolean published) {
        boolean marked = c.masquerade() == NftConfig.Masquerade.ALL || (published && c.masquerade() == NftConfig.Masquerade.PUBLISHED);
        return marked ? "meta mark set meta mark | " + c.markHex() + "\n" : "";
    }

    /** A backend of one frontend: address, port and weight (instances at the same address:port are merged). */
    record Backend(InetAddress address, int port, int weight) {
        String text() {
            return address.getHostAddress() + " . " + port;
        }

        String nameSuffix() {
            return address.getHostAddress() + "_" + port;
        }
    }

    static Fragment renderService(Service s, List<Instance> serving, NftConfig c) {
        List<NftObject> o = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        boolean affinity = AFFINITY_SCHEDULERS.contains(s.scheduler());
        InetAddress vip = null;
        if (s.mode() == Mode.VIP && s.vip() != null && !s.ports().isEmpty()) {
            if (s.vip() instanceof Inet4Address) {
                vip = s.vip();
                Set<String> seen = new java.util.HashSet<>();
                for (Port p : s.ports()) {
                    if (!seen.add(p.protocol().lower() + "/" + p.number())) {
                        continue;
                    }
                    List<Backend> backends = capped(backends(s, p, serving, warnings), c,
                            "port " + p.protocol().lower() + "/" + p.number(), warnings);
                    String fe = s.name() + "_" + p.protocol().lower() + "_" + p.number();
                    frontend(o, c, s.name(), fe, ip(vip), p.number(), p.protocol(), backends, affinity, false);
                }
            } else {
                warnings.add("VIP " + s.vip().getHostAddress() + " is IPv6: the nftables plane programs IPv4 only");
            }
        }
        Set<String> seen = new java.util.HashSet<>();
        for (PublishedPort pp : s.publishedPorts()) {
            if (!seen.add(pp.protocol().lower() + "/" + pp.published())) {
                continue;
            }
            Map<String, Backend> merged = new LinkedHashMap<>();
            for (Instance i : serving) {
                if (i.address() instanceof Inet4Address) {
                    merge(merged, new Backend(i.address(), pp.target(), i.weight()));
                }
            }
            String fe = s.name() + "_pub_" + pp.protocol().lower() + "_" + pp.published();
            frontend(o, c, s.name(), fe, 0, pp.published(), pp.protocol(),
                    capped(new ArrayList<>(merged.values()), c, "published port " + pp.protocol().lower() + "/" + pp.published(), warnings),
                    affinity, true);
        }
        return Fragment.of(s.name(), o, vip, warnings);
    }

    /** The instances' addresses and ports for a service port ({@link Instance#portFor}; no ports: the service port). */
    static List<Backend> backends(Service s, Port p, List<Instance> serving, List<String> warnings) {
        Map<String, Backend> merged = new LinkedHashMap<>();
        for (Instance i : serving) {
            Port ip = i.portFor(p);
            int number;
            if (ip != null) {
                number = ip.number();
            } else if (i.ports().isEmpty()) {
                number = p.number();
            } else {
                continue;
            }
            if (!(i.address() instanceof Inet4Address)) {
                warnings.add("instance " + i.id() + " at " + i.address().getHostAddress() + " is IPv6: left out");
                continue;
            }
            merge(merged, new Backend(i.address(), number, i.weight()));
        }
        return new ArrayList<>(merged.values());
    }

    /**
     * At most {@code --nft-slots} backends for one port (there are slot chains for 1..slots only): past
     * that, the ones whose hash with this host's name is lowest, so that each host sends this port's
     * traffic to its own share and the fleet as a whole to every instance; a warning says so.
     */
    static List<Backend> capped(List<Backend> backends, NftConfig c, String what, List<String> warnings) {
        if (backends.size() <= c.slots()) {
            return backends;
        }
        warnings.add(what + " has " + backends.size() + " instances, more than --nft-slots " + c.slots() + ": this host sends it to "
                + c.slots() + " of them (raise --nft-slots, at most 1024)");
        List<Backend> order = new ArrayList<>(backends);
        order.sort(java.util.Comparator.comparingInt((Backend b) -> mix(b.text().hashCode() ^ hostSeed)).thenComparing(Backend::text));
        List<Backend> kept = new ArrayList<>(order.subList(0, c.slots()));
        kept.sort(java.util.Comparator.comparingInt(backends::indexOf)); // the snapshot's order, as for a small service
        return kept;
    }

    /**
     * This host's name, hashed, so that which instances a port past {@code --nft-slots} keeps differs
     * from host to host; set by the data plane (the I/O half) when it starts, 0 until then.
     */
    private static volatile int hostSeed;

    static void hostSeed(int seed) {
        hostSeed = seed;
    }

    private static int mix(int h) {
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        h ^= h >>> 13;
        return h;
    }

    private static void merge(Map<String, Backend> merged, Backend b) {
        merged.merge(b.text(), b, (x, y) -> new Backend(x.address(), x.port(), Math.min(1_000_000, x.weight() + y.weight())));
    }

    /** An IPv4 address as an int (network order). */
    static int ip(InetAddress a) {
        byte[] b = a.getAddress();
        return (b[0] & 255) << 24 | (b[1] & 255) << 16 | (b[2] & 255) << 8 | (b[3] & 255);
    }

    /**
     * One frontend of service {@code owner}: {@code vip . protocol . port} in {@code vips}, or
     * {@code protocol . port} in {@code published} when {@code published} (vip unused).
     */
    private static void frontend(List<NftObject> o, NftConfig c, String owner, String fe, int vip, int port, Protocol protocol,
                                 List<Backend> backends, boolean affinity, boolean published) {
        if (backends.isEmpty()) {
            return; // no element: the packet goes on unchanged (refused by the host if the VIP is local)
        }
        int[] counts = slotCounts(backends.stream().mapToInt(Backend::weight).toArray(), c.slots());
        int n = 0;
        for (int k : counts) {
            n += k;
        }
        if (!affinity) {
            int slot = 0;
            for (int b = 0; b < backends.size(); b++) {
                int address = ip(backends.get(b).address());
                for (int k = 0; k < counts[b]; k++) {
                    o.add(NftObject.backend(owner, published, vip, protocol, port, slot++, address, backends.get(b).port()));
                }
            }
            o.add(NftObject.dispatch(owner, published, vip, protocol, port, slotVerdict(n, published)));
            return;
        }
        // sh: kube-proxy's affinity shape, for these (few) services only: a set of recent clients per
        // instance, consulted first; otherwise a weighted random pick that records the client.
        StringBuilder rules = new StringBuilder(markRule(c, published));
        StringBuilder vmap = new StringBuilder("numgen random mod ").append(n).append(" vmap { ");
        int slot = 0;
        for (int b = 0; b < backends.size(); b++) {
            Backend be = backends.get(b);
            String set = "aff_" + fe + "_" + be.nameSuffix();
            String chain = "be_" + fe + "_" + be.nameSuffix();
            o.add(NftObject.set(set, "type ipv4_addr; flags dynamic,timeout; timeout " + c.affinityTimeout().toSeconds() + "s;", owner));
            o.add(NftObject.chain(chain, "", "update @" + set + " { ip saddr } meta l4proto " + protocol.lower()
                    + " dnat to " + be.address().getHostAddress() + ":" + be.port(), owner));
            rules.append("ip saddr @").append(set).append(" goto ").append(chain).append('\n');
            for (int k = 0; k < counts[b]; k++) {
                vmap.append(slot == 0 ? "" : ", ").append(slot).append(" : goto ").append(chain);
                slot++;
            }
        }
        rules.append(vmap).append(" }");
        String sh = "sh_" + fe;
        o.add(NftObject.chain(sh, "", rules.toString(), owner));
        o.add(NftObject.dispatch(owner, published, vip, protocol, port, "goto " + sh));
    }

    /**
     * Slots per backend for weights {@code w}: exact when the reduced weights sum to at most
     * {@code max} (equal weights: one slot each), else a largest-remainder share of {@code max} slots
     * with at least one each (more backends than {@code max}: one slot each, weights ignored).
     */
    static int[] slotCounts(int[] w, int max) {
        int n = w.length;
        int[] out = new int[n];
        if (n >= max) {
            java.util.Arrays.fill(out, 1);
            return out;
        }
        long g = 0;
        long total = 0;
        for (int x : w) {
            g = gcd(g, Math.max(1, x));
            total += Math.max(1, x);
        }
        if (total / g <= max) {
            for (int i = 0; i < n; i++) {
                out[i] = (int) (Math.max(1, w[i]) / g);
            }
            return out;
        }
        double[] rem = new double[n];
        int used = 0;
        for (int i = 0; i < n; i++) {
            double q = (double) Math.max(1, w[i]) * max / total;
            out[i] = Math.max(1, (int) Math.floor(q));
            rem[i] = q - Math.floor(q);
            used += out[i];
        }
        while (used < max) {
            int best = 0;
            for (int i = 1; i < n; i++) {
                if (rem[i] > rem[best]) {
                    best = i;
                }
            }
            out[best]++;
            rem[best] = -1;
            used++;
        }
        while (used > max) {
            int best = -1;
            for (int i = 0; i < n; i++) {
                if (out[i] > 1 && (best < 0 || rem[i] < rem[best])) {
                    best = i;
                }
            }
            out[best]--;
            rem[best] = 2;
            used--;
        }
        return out;
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }
}
