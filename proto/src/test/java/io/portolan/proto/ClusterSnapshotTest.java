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
}
