package io.portolan.dns.answer;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Every answer the server gives from one {@link ClusterSnapshot}, computed once when the snapshot
 * is published: a map from each name (wire form, looked up case-insensitively in the packet) to its
 * answers by type. Answering a query is one hash look-up; nothing walks the snapshot per query.
 *
 * <p>Names for service {@code web} in zone {@code Z}:
 * <ul>
 *   <li>{@code web.} and {@code web.Z.}: the VIP ({@code vip} mode) or the serving instances, shuffled per
 *       answer ({@code dnsrr} mode), A or AAAA by address family</li>
 *   <li>{@code tasks.web.} and {@code tasks.web.Z.}: the serving instances, shuffled</li>
 *   <li>{@code ID.tasks.web.Z.}: one instance ({@code ID} is the instance id when it is a DNS label,
 *       otherwise its address with '-' for separators); SRV targets and PTR names use it</li>
 *   <li>{@code _PORT._PROTO.web.Z.}: SRV for each named port (the VIP and service port in {@code vip}
 *       mode, each instance and its port in {@code dnsrr} mode) with addresses as additional records</li>
 *   <li>reverse names of VIPs ({@code web.Z.}) and serving instances ({@code ID.tasks.web.Z.})</li>
 *   <li>the apex {@code Z.} (SOA, NS {@code ns.dns.Z.}) and {@code ns.dns.Z.} (the server's addresses)</li>
 * </ul>
 * Only instances that are healthy with a weight above zero appear. Other names under {@code Z} are
 * NXDOMAIN; names that exist without the asked type are NODATA; both carry the zone's SOA, whose
 * minimum (the negative-caching TTL) is the configured TTL.
 *
 * <p>A table never changes once built: queries read it from any thread while {@link ZoneCompiler}
 * makes the next one, which shares with it what did not change.
 */
public final class ZoneTable {
    static final int A = 1;
    static final int NS = 2;
    static final int SOA = 6;
    static final int PTR = 12;
    static final int AAAA = 28;
    static final int SRV = 33;
    static final int ANY = 255;
    private static final int[] ANY_PREFERENCE = {A, AAAA, SRV, PTR, SOA, NS};

    /** Stands in the names map for the apex, whose answers (the SOA serial) change with every snapshot. */
    static final NameEntry APEX = new NameEntry(new int[0], new Answer[0]);

    /** Each name's {@link Answer} when it has records of one type, else its {@link NameEntry}. */
    private final NameMap<Object> names;
    private final byte[] zoneWire;
    private final String zone;
    private final NameEntry apex;
    private final Answer nodata;
    private final Answer nxdomain;
    private final long revision;

    ZoneTable(NameMap<Object> names, byte[] zoneWire, String zone, NameEntry apex, Answer nodata, Answer nxdomain,
              long revision) {
        this.names = names;
        this.zoneWire = zoneWire;
        this.zone = zone;
        this.apex = apex;
        this.nodata = nodata;
        this.nxdomain = nxdomain;
        this.revision = revision;
    }

    /**
     * The answer to a parsed query, or {@code null} when the name is neither one of ours nor under
     * the zone (the caller forwards it).
     */
    public Answer answer(WireQuery q) {
        Object v = names.get(q.buf, WireQuery.HEADER, q.nameLength());
        int qclass = q.qclass;
        if (v == null) {
            if (!q.isUnder(zoneWire)) {
                return null;
            }
            return qclass == 1 || qclass == ANY ? nxdomain : Answer.REFUSED_EMPTY;
        }
        if (qclass != 1 && qclass != ANY) {
            return Answer.REFUSED_EMPTY;
        }
        int qtype = q.qtype;
        if (qtype == 251 || qtype == 252) {
            return Answer.REFUSED_EMPTY; // IXFR, AXFR: no zone transfers
        }
        if (v instanceof Answer single) {
            return qtype == single.type || qtype == ANY ? single : nodata;
        }
        NameEntry e = v == APEX ? apex : (NameEntry) v;
        Answer a = e.get(qtype);
        return a != null ? a : nodata;
    }

    public boolean isUnderZone(WireQuery q) {
        return q.isUnder(zoneWire);
    }

    public String zone() {
        return zone;
    }

    public long revision() {
        return revision;
    }

    public int nameCount() {
        return names.size();
    }

    /** Every name this table answers, in wire form (for tests). */
    void forEachName(java.util.function.Consumer<byte[]> action) {
        names.forEachKey(action);
    }

    /** Normalises a zone name: lower case, absolute (trailing dot). */
    public static String normalizeZone(String zone) {
        String z = zone.toLowerCase(Locale.ROOT);
        return z.endsWith(".") ? z : z + ".";
    }

    /**
     * Builds the table for a snapshot from nothing. A server that builds one per snapshot keeps a
     * {@link ZoneCompiler} instead, which recompiles only what changed.
     *
     * @param zone the zone, e.g. {@code portolan.internal.}
     * @param ttl TTL of every record, and the SOA minimum
     * @param serverAddresses the addresses {@code ns.dns.Z.} resolves to (may be empty)
     */
    public static ZoneTable build(ClusterSnapshot snapshot, String zone, int ttl, List<InetAddress> serverAddresses) {
        return new ZoneCompiler(zone, ttl, serverAddresses).compile(snapshot);
    }

    static int type(InetAddress a) {
        return a instanceof Inet4Address ? A : AAAA;
    }

    /** The label naming one instance under {@code tasks.SERVICE.Z.}. */
    static String instanceLabel(Instance i) {
        String id = i.id().toLowerCase(Locale.ROOT);
        if (isLabel(id)) {
            return id;
        }
        return addressLabel(i.address());
    }

    static String addressLabel(InetAddress a) {
        byte[] b = a.getAddress();
        StringBuilder s = new StringBuilder();
        if (b.length == 4) {
            for (int k = 0; k < 4; k++) {
                s.append(k == 0 ? "" : "-").append(b[k] & 0xFF);
            }
        } else {
            for (int k = 0; k < 16; k += 2) {
                s.append(k == 0 ? "" : "-").append(Integer.toHexString(((b[k] & 0xFF) << 8) | (b[k + 1] & 0xFF)));
            }
        }
        return s.toString();
    }

    private static boolean isLabel(String s) {
        int n = s.length();
        if (n == 0 || n > 63) {
            return false;
        }
        for (int k = 0; k < n; k++) {
            char c = s.charAt(k);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && k > 0 && k < n - 1);
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** The reverse-mapping name of an address: {@code in-addr.arpa.} or {@code ip6.arpa.}. */
    public static String reverseName(InetAddress a) {
        byte[] b = a.getAddress();
        StringBuilder s = new StringBuilder();
        if (b.length == 4) {
            for (int k = 3; k >= 0; k--) {
                s.append(b[k] & 0xFF).append('.');
            }
            return s.append("in-addr.arpa.").toString();
        }
        for (int k = 15; k >= 0; k--) {
            s.append(Character.forDigit(b[k] & 0xF, 16)).append('.').append(Character.forDigit((b[k] >>> 4) & 0xF, 16)).append('.');
        }
        return s.append("ip6.arpa.").toString();
    }

    /**
     * The answers of a name with records of several types (or none: an empty non-terminal, all
     * sharing {@link #EMPTY}); a name with one type is stored as its {@link Answer} alone.
     */
    static final class NameEntry {
        static final NameEntry EMPTY = new NameEntry(new int[0], new Answer[0]);

        private final int[] types;
        private final Answer[] answers;

        NameEntry(int[] types, Answer[] answers) {
            this.types = types;
            this.answers = answers;
        }

        Answer get(int qtype) {
            for (int k = 0; k < types.length; k++) {
                if (types[k] == qtype) {
                    return answers[k];
                }
            }
            return null;
        }
    }

    private static final class RRset {
        final Set<ByteKey> rdata = new LinkedHashSet<>();
        final Set<ByteKey> additional = new LinkedHashSet<>();
        boolean shuffle;
    }

    private record ByteKey(byte[] b) {
        @Override
        public boolean equals(Object o) {
            return o instanceof ByteKey k && java.util.Arrays.equals(b, k.b);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(b);
        }
    }

    /** What makes two compiled answers the same. */
    private record Compiled(int type, int an, int ar, int shuffle, ByteKey body) {
    }

    static final class Builder {
        final String zone;
        final int ttl;
        final Map<String, Map<Integer, RRset>> nodes = new LinkedHashMap<>();
        final Map<InetAddress, Set<String>> ptr = new LinkedHashMap<>();
        private final Map<Compiled, Answer> compiled = new HashMap<>();

        Builder(String zone, int ttl) {
            this.zone = zone;
            this.ttl = ttl;
        }

        Map<Integer, RRset> node(String name) {
            return nodes.computeIfAbsent(name, k -> new LinkedHashMap<>());
        }

        RRset add(String name, int type, byte[] rdata) {
            RRset r = node(name).computeIfAbsent(type, k -> new RRset());
            r.rdata.add(new ByteKey(rdata));
            return r;
        }

        void addresses(String name, List<InetAddress> addrs) {
            node(name);
            for (InetAddress a : addrs) {
                add(name, type(a), a.getAddress()).shuffle = true;
            }
        }

        void service(Service s, List<Instance> serving) {
            String base = s.name() + "." + zone;
            String shortName = s.name() + ".";
            String tasks = "tasks." + base;
            Set<InetAddress> unique = new LinkedHashSet<>();
            Map<Instance, String> hosts = new LinkedHashMap<>();
            Set<String> used = new HashSet<>();
            for (Instance i : serving) {
                unique.add(i.address());
                String label = instanceLabel(i);
                if (!used.add(label)) {
                    label = addressLabel(i.address());
                    used.add(label);
                }
                hosts.put(i, label + "." + tasks);
            }
            List<InetAddress> addrs = new ArrayList<>(unique);
            node(base);
            node(shortName);
            if (s.mode() == Mode.VIP) {
                if (s.vip() != null) {
                    add(base, type(s.vip()), s.vip().getAddress());
                    add(shortName, type(s.vip()), s.vip().getAddress());
                    ptr.computeIfAbsent(s.vip(), k -> new LinkedHashSet<>()).add(base);
                }
            } else {
                addresses(base, addrs);
                addresses(shortName, addrs);
            }
            addresses(tasks, addrs);
            addresses("tasks." + shortName, addrs);
            for (Map.Entry<Instance, String> h : hosts.entrySet()) {
                InetAddress a = h.getKey().address();
                add(h.getValue(), type(a), a.getAddress());
                ptr.computeIfAbsent(a, k -> new LinkedHashSet<>()).add(h.getValue());
            }
            for (Port port : s.ports()) {
                if (port.name().isEmpty()) {
                    continue;
                }
                String srv = "_" + port.name() + "._" + port.protocol().lower() + "." + base;
                node(srv);
                if (s.mode() == Mode.VIP) {
                    if (s.vip() != null) {
                        RRset r = add(srv, SRV, srv(0, port.number(), base));
                        r.additional.add(new ByteKey(address(base, s.vip())));
                    }
                    continue;
                }
                for (Map.Entry<Instance, String> h : hosts.entrySet()) {
                    Port p = h.getKey().portFor(port);
                    if (p == null) {
                        continue;
                    }
                    RRset r = add(srv, SRV, srv(Math.min(65535, h.getKey().weight()), p.number(), h.getValue()));
                    r.additional.add(new ByteKey(address(h.getValue(), h.getKey().address())));
                }
            }
        }

        static byte[] srv(int weight, int port, String target) {
            return new Wire().u16(0).u16(weight).u16(port).bytes(Wire.name(target)).toArray();
        }

        byte[] address(String owner, InetAddress a) {
            return new Wire().record(Wire.name(owner), type(a), ttl, a.getAddress()).toArray();
        }

        void emptyNonTerminals() {
            String suffix = "." + zone;
            for (String name : new ArrayList<>(nodes.keySet())) {
                if (!name.endsWith(suffix)) {
                    continue;
                }
                String parent = name.substring(name.indexOf('.') + 1);
                while (parent.endsWith(suffix)) {
                    node(parent);
                    parent = parent.substring(parent.indexOf('.') + 1);
                }
            }
        }

        void reverse() {
            for (Map.Entry<InetAddress, Set<String>> e : ptr.entrySet()) {
                String rev = reverseName(e.getKey());
                for (String target : e.getValue()) {
                    add(rev, PTR, Wire.name(target));
                }
            }
        }

        private static boolean answersAny(int type) {
            for (int pref : ANY_PREFERENCE) {
                if (pref == type) {
                    return true;
                }
            }
            return false;
        }

        /** Adds each name's wire form to {@code keys} and its table value (see {@link ZoneTable#names}) to {@code entries}. */
        void compileInto(List<byte[]> keys, List<Object> entries) {
            for (Map.Entry<String, Map<Integer, RRset>> n : nodes.entrySet()) {
                keys.add(Wire.name(n.getKey()));
                Map<Integer, RRset> sets = n.getValue();
                int count = sets.size();
                if (count == 0) {
                    entries.add(NameEntry.EMPTY);
                    continue;
                }
                if (count == 1) {
                    Map.Entry<Integer, RRset> only = sets.entrySet().iterator().next();
                    if (answersAny(only.getKey())) {
                        entries.add(compile(only.getKey(), only.getValue())); // answers its type and ANY
                        continue;
                    }
                }
                Answer any = null;
                List<Integer> types = new ArrayList<>(sets.keySet());
                Answer[] answers = new Answer[count + 1];
                for (int k = 0; k < count; k++) {
                    answers[k] = compile(types.get(k), sets.get(types.get(k)));
                }
                for (int pref : ANY_PREFERENCE) {
                    int k = types.indexOf(pref);
                    if (k >= 0) {
                        any = answers[k];
                        break;
                    }
                }
                int[] t;
                if (any != null) {
                    answers[count] = any;
                    t = new int[count + 1];
                    t[count] = ANY;
                } else {
                    t = new int[count];
                    answers = java.util.Arrays.copyOf(answers, count);
                }
                for (int k = 0; k < count; k++) {
                    t[k] = types.get(k);
                }
                entries.add(new NameEntry(t, answers));
            }
        }

        Answer compile(int type, RRset r) {
            Wire w = new Wire();
            int recordLength = -1;
            for (ByteKey rd : r.rdata) {
                int before = w.length();
                w.record(Wire.POINTER_TO_QUESTION, type, ttl, rd.b());
                int len = w.length() - before;
                recordLength = recordLength == -1 || recordLength == len ? len : -2;
            }
            for (ByteKey add : r.additional) {
                w.bytes(add.b());
            }
            int shuffle = r.shuffle && recordLength > 0 ? recordLength : 0;
            byte[] body = w.toArray();
            // Names with the same records share one answer: web.Z. and web., tasks.web.Z. and tasks.web.
            return compiled.computeIfAbsent(new Compiled(type, r.rdata.size(), r.additional.size(), shuffle, new ByteKey(body)),
                    k -> new Answer(type, Answer.NOERROR, true, body, k.an, 0, k.ar, shuffle));
        }
    }
}
