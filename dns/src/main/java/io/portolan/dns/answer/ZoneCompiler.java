package io.portolan.dns.answer;

import io.portolan.dns.answer.ZoneTable.Builder;
import io.portolan.dns.answer.ZoneTable.NameEntry;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.Service;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds the {@link ZoneTable} of each snapshot for one zone, keeping between snapshots what it
 * compiled: each service's names and answers, and which services own each PTR address. A
 * snapshot then costs what changed in it, not the size of the cluster:
 * <ol>
 *   <li>the services that may have changed come from {@link ClusterSnapshot#changedSince} (the
 *       registry's dirty names); when the snapshot does not know, every service is compared with
 *       the one compiled, by identity first ({@code ==} on the service and on its serving list),
 *       with {@code equals} only when not identical;</li>
 *   <li>only those services are compiled again;</li>
 *   <li>the new table's name map is a copy of the previous one's (sharing every segment it does not
 *       write to, see {@link NameMap}) with the old names of those services removed and their new
 *       ones put; an address owned by several services gets one PTR entry merged from all of them,
 *       recomputed when one of its owners changes.</li>
 * </ol>
 * The apex's answers and the negative answers carry the SOA, whose serial is the snapshot's
 * revision: they are made anew for every table, outside the name map (see {@link ZoneTable#APEX}),
 * so a snapshot that changes no name reuses the previous map as it is.
 *
 * <p>A table, once returned, never changes (queries read it from other threads); the compiler's own
 * state is changed by {@link #compile} only, which is synchronized. When compiling fails, the next
 * call starts from nothing.
 */
public final class ZoneCompiler {
    private final String zone;
    private final int ttl;
    private final byte[] zoneWire;
    /** The apex's names that do not depend on the snapshot: {@code ns.dns.Z.}, {@code dns.Z.}, and {@code Z.} as {@link ZoneTable#APEX}. */
    private final NameMap<Object> apexNames;
    private final List<byte[]> apexKeys = new ArrayList<>();
    private final List<Object> apexEntries = new ArrayList<>();

    /** The snapshot of the last table returned; null before the first or after a failure. */
    private ClusterSnapshot last;
    /** The last table's names: published, so never changed here, only copied. */
    private NameMap<Object> names;
    private final Map<String, ServicePart> parts = new HashMap<>();
    /** The services whose names an address maps back to: a service name, or a sorted array of them when shared (copied on change). */
    private final Map<InetAddress, Object> ptrOwners = new HashMap<>();

    /**
     * @param zone the zone, e.g. {@code portolan.internal.}
     * @param ttl TTL of every record, and the SOA minimum
     * @param serverAddresses the addresses {@code ns.dns.Z.} resolves to (may be empty)
     */
    public ZoneCompiler(String zone, int ttl, List<InetAddress> serverAddresses) {
        this.zone = ZoneTable.normalizeZone(zone);
        this.ttl = ttl;
        this.zoneWire = Wire.name(this.zone);
        Builder apex = new Builder(this.zone, ttl);
        String nsName = "ns.dns." + this.zone;
        apex.node(nsName);
        for (InetAddress a : serverAddresses) {
            apex.add(nsName, ZoneTable.type(a), a.getAddress());
        }
        apex.emptyNonTerminals();
        apexKeys.add(zoneWire);
        apexEntries.add(ZoneTable.APEX);
        apex.compileInto(apexKeys, apexEntries);
        apexNames = new NameMap<>(apexKeys.size());
        for (int i = 0; i < apexKeys.size(); i++) {
            apexNames.put(apexKeys.get(i), apexEntries.get(i));
        }
    }

    public String zone() {
        return zone;
    }

    /** The table for {@code snapshot}, recompiling only the services changed since the last call's snapshot. */
    public synchronized ZoneTable compile(ClusterSnapshot snapshot) {
        try {
            if (last == null) {
                full(snapshot);
            } else {
                incremental(snapshot);
            }
            last = snapshot;
            return table(snapshot.revision(), snapshot == ClusterSnapshot.EMPTY);
        } catch (RuntimeException | Error e) {
            last = null;
            names = null;
            parts.clear();
            ptrOwners.clear();
            throw e;
        }
    }

    private void full(ClusterSnapshot snapshot) {
        parts.clear();
        ptrOwners.clear();
        int total = apexKeys.size();
        for (Service s : snapshot.services().values()) {
            ServicePart part = compile(s, snapshot.servingInstances(s.name()));
            parts.put(s.name(), part);
            total += part.keys.length;
            for (InetAddress a : part.ptrAddresses) {
                addOwner(a, s.name());
            }
        }
        NameMap<Object> map = new NameMap<>(total + ptrOwners.size());
        for (int i = 0; i < apexKeys.size(); i++) {
            map.put(apexKeys.get(i), apexEntries.get(i));
        }
        // A service's names replace the apex's where they meet (service "dns" and the apex's dns.Z.).
        for (ServicePart part : parts.values()) {
            part.putInto(map);
        }
        for (InetAddress a : ptrOwners.keySet()) {
            putPtr(map, a);
        }
        names = map;
    }

    /** A service whose compiled part is replaced: {@code before} or {@code after} null when it appears or goes. */
    private record Change(String name, ServicePart before, ServicePart after) {
    }

    private void incremental(ClusterSnapshot snapshot) {
        List<Change> changes = new ArrayList<>();
        Map<String, Service> services = snapshot.services();
        Set<String> dirty = snapshot.changedSince(last);
        if (dirty != null) {
            for (String name : dirty) {
                check(name, services.get(name), snapshot, changes);
            }
        } else {
            int known = 0;
            for (Service s : services.values()) {
                if (parts.containsKey(s.name())) {
                    known++;
                }
                check(s.name(), s, snapshot, changes);
            }
            if (known < parts.size()) {
                for (Map.Entry<String, ServicePart> e : parts.entrySet()) {
                    if (!services.containsKey(e.getKey())) {
                        changes.add(new Change(e.getKey(), e.getValue(), null));
                    }
                }
            }
        }
        if (changes.isEmpty()) {
            return; // the same names: the new table shares the map
        }
        NameMap<Object> map = names.copy();
        for (Change c : changes) {
            if (c.before != null) {
                for (byte[] key : c.before.keys) {
                    Object apex = apexNames.get(key, 0, key.length);
                    if (apex != null) {
                        map.put(key, apex);
                    } else {
                        map.remove(key);
                    }
                }
            }
        }
        Set<InetAddress> addresses = new LinkedHashSet<>();
        for (Change c : changes) {
            if (c.before != null) {
                for (InetAddress a : c.before.ptrAddresses) {
                    removeOwner(a, c.name);
                    addresses.add(a);
                }
            }
            if (c.after != null) {
                c.after.putInto(map);
                for (InetAddress a : c.after.ptrAddresses) {
                    addOwner(a, c.name);
                    addresses.add(a);
                }
                parts.put(c.name, c.after);
            } else {
                parts.remove(c.name);
            }
        }
        for (InetAddress a : addresses) {
            putPtr(map, a);
        }
        names = map;
    }

    /** Adds to {@code changes} service {@code name} ({@code s} null when not defined) if it differs from its compiled part. */
    private void check(String name, Service s, ClusterSnapshot snapshot, List<Change> changes) {
        ServicePart before = parts.get(name);
        if (s == null) {
            if (before != null) {
                changes.add(new Change(name, before, null));
            }
            return;
        }
        List<Instance> serving = snapshot.servingInstances(name);
        if (before != null) {
            if (before.service == s && before.serving == serving) {
                return;
            }
            if (before.service.equals(s) && before.serving.equals(serving)) {
                // Equal but not the same objects (a snapshot built afresh): identity matches next time.
                before.service = s;
                before.serving = serving;
                return;
            }
        }
        changes.add(new Change(name, before, compile(s, serving)));
    }

    private ServicePart compile(Service s, List<Instance> serving) {
        Builder b = new Builder(zone, ttl);
        b.service(s, serving);
        b.emptyNonTerminals();
        List<byte[]> keys = new ArrayList<>();
        List<Object> entries = new ArrayList<>();
        b.compileInto(keys, entries);
        byte[][] names = keys.toArray(new byte[0][]);
        Object[] values = entries.toArray();
        Builder rev = new Builder(zone, ttl);
        rev.ptr.putAll(b.ptr);
        rev.reverse();
        keys.clear();
        entries.clear();
        rev.compileInto(keys, entries);
        InetAddress[] addresses = b.ptr.keySet().toArray(new InetAddress[0]); // reverse() added the names in this order
        Answer[] answers = entries.toArray(new Answer[0]); // a reverse name has PTR records only
        return new ServicePart(s, serving, names, values, addresses, answers);
    }

    private void addOwner(InetAddress a, String service) {
        Object o = ptrOwners.get(a);
        if (o == null) {
            ptrOwners.put(a, service);
        } else if (o instanceof String single) {
            if (!single.equals(service)) {
                ptrOwners.put(a, single.compareTo(service) < 0 ? new String[] {single, service} : new String[] {service, single});
            }
        } else {
            String[] several = (String[]) o;
            int at = java.util.Arrays.binarySearch(several, service);
            if (at < 0) {
                at = -at - 1;
                String[] more = new String[several.length + 1];
                System.arraycopy(several, 0, more, 0, at);
                more[at] = service;
                System.arraycopy(several, at, more, at + 1, several.length - at);
                ptrOwners.put(a, more);
            }
        }
    }

    private void removeOwner(InetAddress a, String service) {
        Object o = ptrOwners.get(a);
        if (o instanceof String[] several) {
            int at = java.util.Arrays.binarySearch(several, service);
            if (at < 0) {
                return;
            }
            if (several.length == 2) {
                ptrOwners.put(a, several[1 - at]);
            } else {
                String[] fewer = new String[several.length - 1];
                System.arraycopy(several, 0, fewer, 0, at);
                System.arraycopy(several, at + 1, fewer, at, fewer.length - at);
                ptrOwners.put(a, fewer);
            }
        } else if (service.equals(o)) {
            ptrOwners.remove(a);
        }
    }

    /**
     * Puts the reverse name of {@code a} as its owners say: none, removed; one, that service's
     * compiled entry; several, their targets merged in the order of the service names.
     */
    private void putPtr(NameMap<Object> map, InetAddress a) {
        Object o = ptrOwners.get(a);
        byte[] key = Wire.name(ZoneTable.reverseName(a));
        if (o == null) {
            map.remove(key);
        } else if (o instanceof String single) {
            map.put(key, parts.get(single).ptr(a));
        } else {
            Builder shared = new Builder(zone, ttl);
            String name = ZoneTable.reverseName(a);
            shared.node(name);
            for (String service : (String[]) o) {
                Answer own = parts.get(service).ptr(a);
                // Its records, in order: pointer to the question (2), type, class (4), TTL (4), length (2), the target.
                for (int k = 0, off = 0; k < own.answerCount(); k++) {
                    int length = ((own.body[off + 10] & 0xFF) << 8) | (own.body[off + 11] & 0xFF);
                    shared.add(name, ZoneTable.PTR, java.util.Arrays.copyOfRange(own.body, off + 12, off + 12 + length));
                    off += 12 + length;
                }
            }
            List<byte[]> keys = new ArrayList<>(1);
            List<Object> entries = new ArrayList<>(1);
            shared.compileInto(keys, entries);
            map.put(key, entries.get(0));
        }
    }

    /**
     * {@code unloaded}: the placeholder before the registry is read; a name it lacks may well exist, so
     * it gets SERVFAIL (try again, not cached as NXDOMAIN with the SOA minimum by resolvers).
     */
    private ZoneTable table(long revision, boolean unloaded) {
        String nsName = "ns.dns." + zone;
        byte[] soa = new Wire().bytes(Wire.name(nsName)).bytes(Wire.name("hostmaster." + zone))
                .u32(revision & 0xFFFFFFFFL).u32(3600).u32(600).u32(86400).u32(ttl).toArray();
        Builder apex = new Builder(zone, ttl);
        apex.add(zone, ZoneTable.SOA, soa);
        apex.add(zone, ZoneTable.NS, Wire.name(nsName));
        List<byte[]> keys = new ArrayList<>(1);
        List<Object> entries = new ArrayList<>(1);
        apex.compileInto(keys, entries);
        byte[] soaRecord = new Wire().record(zoneWire, ZoneTable.SOA, ttl, soa).toArray();
        Answer nodata = new Answer(0, Answer.NOERROR, true, soaRecord, 0, 1, 0, 0);
        Answer nxdomain = unloaded ? Answer.SERVFAIL_EMPTY : new Answer(0, Answer.NXDOMAIN, true, soaRecord, 0, 1, 0, 0);
        return new ZoneTable(names, zoneWire, zone, (NameEntry) entries.get(0), nodata, nxdomain, revision);
    }

    /** Addresses by hash code (an IPv4 address's is its value), then by their bytes: no allocation in the common case. */
    private static final java.util.Comparator<InetAddress> ADDRESS_ORDER = (x, y) -> {
        int c = Integer.compare(x.hashCode(), y.hashCode());
        return c != 0 ? c : java.util.Arrays.compare(x.getAddress(), y.getAddress());
    };

    /** One service's compiled names, kept while the service and its serving instances are unchanged. */
    private static final class ServicePart {
        /** Replaced by equal objects from later snapshots, so that the identity check matches. */
        Service service;
        List<Instance> serving;
        /** Its names (wire form) and their table values, index by index. */
        final byte[][] keys;
        final Object[] entries;
        /**
         * The addresses this service's names map back to (VIP, serving instances), in
         * {@link #ADDRESS_ORDER}, and the PTR answer each has from this service alone; the reverse name
         * itself is made again when it is put (two references per address here, no map node and no
         * name: 110,000 addresses at 10,000 services).
         */
        final InetAddress[] ptrAddresses;
        final Answer[] ptrAnswers;

        ServicePart(Service service, List<Instance> serving, byte[][] keys, Object[] entries, InetAddress[] addresses, Answer[] answers) {
            this.service = service;
            this.serving = serving;
            this.keys = keys;
            this.entries = entries;
            Integer[] order = new Integer[addresses.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            java.util.Arrays.sort(order, (x, y) -> ADDRESS_ORDER.compare(addresses[x], addresses[y]));
            ptrAddresses = new InetAddress[addresses.length];
            ptrAnswers = new Answer[addresses.length];
            for (int i = 0; i < order.length; i++) {
                ptrAddresses[i] = addresses[order[i]];
                ptrAnswers[i] = answers[order[i]];
            }
        }

        /** This service's own PTR answer for {@code a}, or null when its names do not map back to it. */
        Answer ptr(InetAddress a) {
            int i = java.util.Arrays.binarySearch(ptrAddresses, a, ADDRESS_ORDER);
            return i >= 0 ? ptrAnswers[i] : null;
        }

        void putInto(NameMap<Object> map) {
            for (int i = 0; i < keys.length; i++) {
                map.put(keys[i], entries[i]);
            }
        }
    }
}
