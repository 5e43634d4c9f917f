package io.portolan.dns.answer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import io.portolan.proto.testing.Snapshots;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * The incremental compiler against a build from nothing: random changes to a small cluster whose
 * services share addresses, and after every step every name of either table, asked for every type,
 * must get the same answer, byte for byte.
 */
class ZoneCompilerTest {
    static final String Z = "portolan.internal.";
    static final List<InetAddress> SERVER = List.of(Snapshots.ip("127.0.0.11"), Snapshots.ip("fd00::53"));
    static final int[] TYPES = {ZoneTable.A, ZoneTable.AAAA, ZoneTable.SRV, ZoneTable.PTR, ZoneTable.SOA, ZoneTable.NS,
        ZoneTable.ANY, 16 /* TXT */};

    // "dns" meets the apex's dns.Z.; "tasks" and "db" make tasks.db.Z. and tasks.Z. neighbours.
    static final String[] SERVICES = {"web", "db", "api", "dns", "tasks", "cache", "orphan"};
    // Labels, non-labels (named by address), and ids that are the same label in another case.
    static final String[] IDS = {"a-1", "a-2", "b-1", "web-1", "WEB-1", "X_1", "n.2", "c-3"};
    static final String[] ADDRESSES = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.99.0.1",
        "fd00::1", "fd00::2", "fd00::3"};
    static final String[] VIPS = {"10.99.0.1", "10.99.0.2", "10.99.0.3", "fd00:99::1", "10.0.0.1", null};
    static final String[] SERVICE_PORTS = {"http:80/tcp", "8081", "dns:53/udp", "pg:5432/tcp", "grpc:9000/tcp"};
    static final String[] INSTANCE_PORTS = {"http:8080/tcp", "pg:6432/tcp", "dns:5353/udp", "grpc:9001/tcp", "8081"};

    final Random rnd = new Random(20261122);
    final Map<String, Service> services = new TreeMap<>();
    final Map<String, Map<String, Instance>> instances = new TreeMap<>();

    @Test
    void compile_randomChanges_answersAsBuildFromNothing() {
        // Services that never change, enough for a name map of several segments.
        for (int i = 0; i < 60; i++) {
            String name = "fill" + i;
            services.put(name, new Service(name, Mode.VIP, List.of(Port.parse("port", "http:80/tcp")),
                    Snapshots.ip("10.98.0." + (i + 1)), null, null, null));
            instances.computeIfAbsent(name, k -> new TreeMap<>()).put("f-1", new Instance("f-1", name, "node-1",
                    Snapshots.ip("10.97.0." + (i + 1)), List.of(), 100, Health.HEALTHY, null, null, null));
        }
        ZoneCompiler compiler = new ZoneCompiler(Z, 5, SERVER);
        ClusterSnapshot snapshot = ClusterSnapshot.EMPTY;
        ZoneTable previous = compiler.compile(snapshot);
        ZoneTable previousFull = ZoneTable.build(snapshot, Z, 5, SERVER);
        int compiled = 0;
        for (int step = 1; step <= 400; step++) {
            Set<String> changed = new HashSet<>(step == 1 ? services.keySet() : Set.of());
            int changes = 1 + rnd.nextInt(rnd.nextInt(10) == 0 ? 8 : 2);
            for (int c = 0; c < changes; c++) {
                change(changed);
            }
            snapshot = snapshot(snapshot, step, changed);
            if (rnd.nextInt(8) == 0) {
                continue; // a snapshot the server never sees: the next one's delta spans two
            }
            ZoneTable incremental = compiler.compile(snapshot);
            ZoneTable full = ZoneTable.build(snapshot, Z, 5, SERVER);
            assertSameTables(full, incremental, "step " + step);
            // a table already published is not changed by later compiles
            assertSameTables(previousFull, previous, "step " + step + ", the table before");
            previous = incremental;
            previousFull = full;
            compiled++;
        }
        assertEquals(true, compiled > 300, "compiled " + compiled);
    }

    @Test
    void compile_sameSnapshotAgainOrNoNameChanged_sharesNamesNewSerial() {
        ZoneCompiler compiler = new ZoneCompiler(Z, 5, SERVER);
        ClusterSnapshot one = Snapshots.builder().vip("web", "10.99.0.1").instance("web", "w-1", "10.0.0.1")
                .instance("web", "w-2", "10.0.0.2", 100, Health.UNHEALTHY).build(1);
        ZoneTable a = compiler.compile(one);
        // only a non-serving instance changes: no name changes, but the serial does
        Map<String, List<Instance>> inst = new HashMap<>(one.instancesByService());
        inst.put("web", List.of(one.instances("web").get(0), new Instance("w-2", "web", "node-2", Snapshots.ip("10.0.0.2"),
                List.of(), 100, Health.UNHEALTHY, null, null, null)));
        ClusterSnapshot two = ClusterSnapshot.next(one, 2, one.services(), inst, Set.of("web"));
        ZoneTable b = compiler.compile(two);
        assertSameTables(ZoneTable.build(two, Z, 5, SERVER), b, "revision 2");
        assertEquals(2, b.revision());
        assertSameTables(ZoneTable.build(one, Z, 5, SERVER), a, "revision 1 still");
    }

    /** One random change to the model; the services it touched go into {@code changed}. */
    void change(Set<String> changed) {
        String service = pick(SERVICES);
        changed.add(service);
        Map<String, Instance> of = instances.computeIfAbsent(service, k -> new TreeMap<>());
        Instance existing = of.isEmpty() ? null : new ArrayList<>(of.values()).get(rnd.nextInt(of.size()));
        switch (rnd.nextInt(10)) {
            case 0, 1 -> {
                Instance i = new Instance(pick(IDS), service, "node-1", Snapshots.ip(pick(ADDRESSES)), ports(INSTANCE_PORTS),
                        pick(new int[] {0, 1, 50, 100, 10_000}), rnd.nextInt(5) == 0 ? Health.UNHEALTHY : Health.HEALTHY,
                        null, null, null);
                of.put(i.id(), i);
            }
            case 2 -> {
                if (existing != null) {
                    of.remove(existing.id());
                }
            }
            case 3 -> {
                if (existing != null) {
                    of.put(existing.id(), with(existing, existing.address(), pick(new int[] {0, 1, 50, 100}), existing.health()));
                }
            }
            case 4 -> {
                if (existing != null) {
                    Health h = existing.health() == Health.HEALTHY ? Health.UNHEALTHY : Health.HEALTHY;
                    of.put(existing.id(), with(existing, existing.address(), existing.weight(), h));
                }
            }
            case 5 -> {
                if (existing != null) {
                    of.put(existing.id(), with(existing, Snapshots.ip(pick(ADDRESSES)), existing.weight(), existing.health()));
                }
            }
            case 6, 7 -> {
                boolean vip = rnd.nextBoolean();
                String address = vip ? pick(VIPS) : null;
                services.put(service, new Service(service, vip ? Mode.VIP : Mode.DNSRR, ports(SERVICE_PORTS),
                        address == null ? null : Snapshots.ip(address), null, null, null));
            }
            case 8 -> services.remove(service);
            default -> of.clear();
        }
    }

    /**
     * The snapshot after {@code previous}: mostly built with {@link ClusterSnapshot#next}, as the
     * registry does; sometimes afresh, with equal but new service objects.
     */
    ClusterSnapshot snapshot(ClusterSnapshot previous, long revision, Set<String> changed) {
        Map<String, List<Instance>> lists = new LinkedHashMap<>();
        for (Map.Entry<String, Map<String, Instance>> e : instances.entrySet()) {
            lists.put(e.getKey(), new ArrayList<>(e.getValue().values()));
        }
        if (rnd.nextInt(4) != 0) {
            return ClusterSnapshot.next(previous, revision, services, lists, changed);
        }
        Map<String, Service> copies = new TreeMap<>();
        for (Service s : services.values()) {
            copies.put(s.name(), rnd.nextBoolean() ? s
                    : new Service(s.name(), s.mode(), s.ports(), s.vip(), s.scheduler(), s.publishedPorts(), s.extras()));
        }
        return new ClusterSnapshot(revision, copies, lists);
    }

    static Instance with(Instance i, InetAddress address, int weight, Health health) {
        return new Instance(i.id(), i.service(), i.node(), address, i.ports(), weight, health, null, null, null);
    }

    List<Port> ports(String[] specs) {
        List<Port> out = new ArrayList<>();
        for (String s : specs) {
            if (rnd.nextInt(3) != 0) {
                out.add(Port.parse("port", s));
            }
        }
        return out;
    }

    String pick(String[] from) {
        return from[rnd.nextInt(from.length)];
    }

    int pick(int[] from) {
        return from[rnd.nextInt(from.length)];
    }

    /**
     * Every name either table holds, names that neither should (under the zone and not), and the
     * reverse name of every address in play, each asked for every type: the same answers.
     */
    static void assertSameTables(ZoneTable expected, ZoneTable actual, String where) {
        assertEquals(expected.revision(), actual.revision(), where);
        Map<String, byte[]> names = new TreeMap<>();
        expected.forEachName(k -> names.put(text(k), k));
        Map<String, byte[]> actualNames = new TreeMap<>();
        actual.forEachName(k -> actualNames.put(text(k), k));
        assertEquals(names.keySet(), actualNames.keySet(), where + ": names");
        assertEquals(expected.nameCount(), actual.nameCount(), where);
        List<byte[]> wires = new ArrayList<>(names.values());
        for (String extra : List.of("nope." + Z, "nope.web." + Z, "x.tasks.web." + Z, "example.com.", "web.", "nope.")) {
            wires.add(Wire.name(extra));
        }
        for (String a : ADDRESSES) {
            wires.add(Wire.name(ZoneTable.reverseName(Snapshots.ip(a))));
        }
        for (String a : VIPS) {
            if (a != null) {
                wires.add(Wire.name(ZoneTable.reverseName(Snapshots.ip(a))));
            }
        }
        WireQuery q = new WireQuery();
        for (byte[] name : wires) {
            for (int type : TYPES) {
                byte[] query = query(name, type);
                System.arraycopy(query, 0, q.buffer(query.length), 0, query.length);
                assertEquals(WireQuery.OK, q.parse(query.length));
                assertSameAnswer(expected.answer(q), actual.answer(q), where + ": " + text(name) + " type " + type);
            }
        }
    }

    static void assertSameAnswer(Answer expected, Answer actual, String where) {
        if (expected == null) {
            assertNull(actual, where);
            return;
        }
        assertNotNull(actual, where);
        assertEquals(expected.rcode, actual.rcode, where + ": rcode");
        assertEquals(expected.authoritative, actual.authoritative, where + ": AA");
        assertEquals(expected.an, actual.an, where + ": answer count");
        assertEquals(expected.ns, actual.ns, where + ": authority count");
        assertEquals(expected.ar, actual.ar, where + ": additional count");
        assertEquals(expected.shuffleLength, actual.shuffleLength, where + ": shuffle");
        assertArrayEquals(expected.body, actual.body, where + ": records");
    }

    /** A query packet: header (ID 0, RD), the name in wire form, type, class IN. */
    static byte[] query(byte[] name, int type) {
        byte[] q = new byte[WireQuery.HEADER + name.length + 4];
        q[2] = 0x01;
        q[5] = 1;
        System.arraycopy(name, 0, q, WireQuery.HEADER, name.length);
        int at = WireQuery.HEADER + name.length;
        q[at] = (byte) (type >>> 8);
        q[at + 1] = (byte) type;
        q[at + 3] = 1;
        return q;
    }

    static String text(byte[] wire) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < wire.length && wire[i] != 0; i += wire[i] + 1) {
            s.append(new String(wire, i + 1, wire[i], StandardCharsets.ISO_8859_1)).append('.');
        }
        return s.toString();
    }
}
