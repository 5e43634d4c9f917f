package io.portolan.proto;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClusterSnapshotTest {
    static Instance inst(String id, String addr, int weight, Health h) throws Exception {
        return new Instance(id, "web", "n", InetAddress.getByName(addr), List.of(new Port("http", 80, Protocol.TCP)), weight, h,
                Map.of(), Instant.EPOCH, Extras.NONE);
    }

    @Test
    void lookups_byNameAndAddress_servingFiltersUnhealthyAndWeightZero() throws Exception {
        Service web = new Service("web", Mode.VIP, List.of(new Port("http", 80, Protocol.TCP)), InetAddress.getByName("10.99.0.1"),
                null, null, null);
        ClusterSnapshot s = new ClusterSnapshot(7, Map.of("web", web), Map.of("web", List.of(
                inst("c", "10.0.0.3", 100, Health.HEALTHY), inst("a", "10.0.0.1", 0, Health.HEALTHY),
                inst("b", "10.0.0.2", 100, Health.UNHEALTHY)), "orphan", List.of()));
        assertEquals(List.of("a", "b", "c"), s.instances("web").stream().map(Instance::id).toList());
        assertEquals(List.of("c"), s.servingInstances("web").stream().map(Instance::id).toList());
        assertTrue(s.byAddress(InetAddress.getByName("10.99.0.1")).get(0).isVip());
        assertEquals("a", s.byAddress(InetAddress.getByName("10.0.0.1")).get(0).instance().id());
        assertTrue(s.byAddress(InetAddress.getByName("10.0.0.9")).isEmpty());
        assertEquals(3, s.instanceCount());
        assertTrue(s.instances("orphan").isEmpty());
    }

    @Test
    void next_reusesUnchangedServices_changedServicesByIdentity() throws Exception {
        Service web = new Service("web", Mode.VIP, List.of(), InetAddress.getByName("10.99.0.1"), null, null, null);
        Service db = new Service("db", Mode.DNSRR, List.of(), null, null, null, null);
        Map<String, List<Instance>> inst = new java.util.HashMap<>(Map.of("web", List.of(inst("a", "10.0.0.1", 100, Health.HEALTHY)),
                "db", List.of(inst("d", "10.0.0.9", 100, Health.HEALTHY))));
        ClusterSnapshot s1 = new ClusterSnapshot(1, Map.of("web", web, "db", db), inst);
        inst.put("web", List.of(inst("a", "10.0.0.1", 100, Health.HEALTHY), inst("b", "10.0.0.2", 100, Health.HEALTHY)));
        ClusterSnapshot s2 = ClusterSnapshot.next(s1, 2, Map.of("web", web, "db", db), inst, java.util.Set.of("web"));
        assertTrue(s1.instances("db") == s2.instances("db"), "unchanged list shared");
        assertEquals(2, s2.instances("web").size());
        assertEquals(java.util.Set.of("web"), s2.changedServices(s1));
        assertEquals(java.util.Set.of("web", "db"), s2.changedServices(null));
        assertEquals("b", s2.byAddress(InetAddress.getByName("10.0.0.2")).get(0).instance().id());
    }

    @Test
    void changedSince_followsNextChains_unionsSkippedSnapshots_nullWhenUnrelatedOrTooFar() throws Exception {
        Map<String, Service> services = new java.util.HashMap<>();
        Map<String, List<Instance>> inst = new java.util.HashMap<>();
        for (String n : List.of("a", "b", "c", "d")) {
            services.put(n, new Service(n, Mode.DNSRR, List.of(), null, null, null, null));
            inst.put(n, List.of(inst("i", "10.0.0.1", 100, Health.HEALTHY)));
        }
        ClusterSnapshot s0 = new ClusterSnapshot(1, services, inst);
        assertEquals(null, s0.changedSince(ClusterSnapshot.EMPTY), "not built by next from it");
        assertEquals(java.util.Set.of(), s0.changedSince(s0));
        inst.put("a", List.of(inst("i", "10.0.0.2", 100, Health.HEALTHY)));
        ClusterSnapshot s1 = ClusterSnapshot.next(s0, 2, services, inst, java.util.Set.of("a"));
        services.remove("b");
        inst.remove("b");
        ClusterSnapshot s2 = ClusterSnapshot.next(s1, 3, services, inst, java.util.Set.of("b"));
        assertEquals(java.util.Set.of("a"), s1.changedSince(s0));
        assertEquals(java.util.Set.of("b"), s2.changedSince(s1));
        assertEquals(java.util.Set.of("a", "b"), s2.changedSince(s0), "a consumer that skipped s1 sees both");
        assertEquals(s2.changedServices(s0), s2.changedSince(s0), "the same names as the identity walk");
        assertEquals(null, s1.changedSince(s2), "backwards");
        ClusterSnapshot far = s2;
        for (int i = 0; i < ClusterSnapshot.DELTA_DEPTH + 1; i++) {
            far = ClusterSnapshot.next(far, 4 + i, services, inst, java.util.Set.of("c"));
        }
        assertEquals(null, far.changedSince(s0), "beyond the chain's depth: the caller walks");
        assertEquals(java.util.Set.of("a", "b", "c"), far.changedServices(s0), "changedServices still answers, by walking");
    }

    /**
     * A chain of snapshots built incrementally (only the changed names looked at) holds, after every
     * step, what one built from scratch holds: services, instances, served instances and the count.
     */
    @Test
    void next_incremental_equalsFull_overRandomChanges() throws Exception {
        java.util.Random r = new java.util.Random(42);
        Map<String, Service> services = new java.util.HashMap<>();
        Map<String, Map<String, Instance>> byService = new java.util.HashMap<>();
        ClusterSnapshot chain = null;
        for (int step = 1; step <= 2_000; step++) {
            java.util.Set<String> changed = new java.util.HashSet<>();
            for (int op = 0, ops = 1 + r.nextInt(4); op < ops; op++) {
                String name = "s" + r.nextInt(12);
                changed.add(name);
                switch (r.nextInt(6)) {
                    case 0 -> services.put(name, new Service(name, Mode.DNSRR, List.of(new Port("p", 1 + r.nextInt(3), Protocol.TCP)),
                            null, null, null, null));
                    case 1 -> services.remove(name);
                    case 2 -> {
                        Map<String, Instance> m = byService.get(name);
                        if (m != null && !m.isEmpty()) {
                            m.remove(m.keySet().iterator().next());
                        }
                    }
                    default -> {
                        String id = "i" + r.nextInt(30);
                        byService.computeIfAbsent(name, x -> new java.util.TreeMap<>()).put(id, new Instance(id, name, "n",
                                InetAddress.getByName("10.0." + r.nextInt(4) + "." + (1 + r.nextInt(200))),
                                List.of(new Port("p", 1, Protocol.TCP)), r.nextInt(3) * 50, r.nextInt(4) == 0 ? Health.UNHEALTHY : Health.HEALTHY,
                                Map.of(), Instant.EPOCH, Extras.NONE));
                    }
                }
            }
            Map<String, java.util.Collection<Instance>> all = new java.util.HashMap<>();
            byService.forEach((k, v) -> all.put(k, v.values()));
            Map<String, java.util.Collection<Instance>> onlyChanged = new java.util.HashMap<>();
            for (String c : changed) {
                if (byService.containsKey(c)) {
                    onlyChanged.put(c, byService.get(c).values());
                }
            }
            chain = chain == null ? ClusterSnapshot.next(null, step, services, all, null)
                    : ClusterSnapshot.next(chain, step, services, onlyChanged, changed);
            ClusterSnapshot full = new ClusterSnapshot(step, services, all);
            assertEquals(full.services(), chain.services(), "services at step " + step);
            assertEquals(full.instancesByService(), chain.instancesByService(), "instances at step " + step);
            assertEquals(full.instanceCount(), chain.instanceCount(), "count at step " + step);
            for (String name : full.instancesByService().keySet()) {
                assertEquals(full.servingInstances(name), chain.servingInstances(name), "served of " + name + " at step " + step);
            }
            assertEquals(List.copyOf(full.services().keySet()), List.copyOf(chain.services().keySet()), "in name order");
        }
    }
}
