package io.portolan.lb.userspace;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The schedulers as pure logic over in-memory backends. */
class SchedulerTest {
    private static final InetAddress CLIENT = Fixtures.addr("10.9.0.1");

    private static Backend backend(String id, int weight) {
        return new Backend(id, id, new InetSocketAddress(Fixtures.addr("10.0.0.1"), 80), weight);
    }

    private static String sequence(Scheduler s, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(s.pick(CLIENT, List.of()).instanceId);
        }
        return b.toString();
    }

    @Test
    void wrr_weights511_nginxSmoothSequence() {
        Scheduler s = Scheduler.create("wrr", List.of(backend("a", 5), backend("b", 1), backend("c", 1)), null, 0);
        assertEquals("aabacaa" + "aabacaa", sequence(s, 14));
    }

    @Test
    void rr_ejectedInstance_skipped() {
        Backend a = backend("a", 1);
        Backend b = backend("b", 1);
        Backend c = backend("c", 1);
        b.ejected = true;
        Scheduler s = Scheduler.create("rr", List.of(a, b, c), null, 0);
        String seq = sequence(s, 30);
        assertFalse(seq.contains("b"), seq);
        assertTrue(seq.contains("a") && seq.contains("c"), seq);
    }

    @Test
    void anyScheduler_everyInstanceTriedOrEjected_null() {
        Backend a = backend("a", 1);
        Backend b = backend("b", 1);
        b.ejected = true;
        for (String name : List.of("rr", "wrr", "lc", "p2c", "sh")) {
            assertNull(Scheduler.create(name, List.of(a, b), null, 1_000_000_000L).pick(CLIENT, List.of(a)), name);
        }
    }

    @Test
    void lc_busyInstance_avoided() {
        Backend a = backend("a", 1);
        Backend b = backend("b", 1);
        a.active.set(5);
        Scheduler s = Scheduler.create("lc", List.of(a, b), null, 0);
        for (int i = 0; i < 10; i++) {
            assertSame(b, s.pick(CLIENT, List.of()));
        }
    }

    @Test
    void p2c_twoInstancesOneBusy_idleOneWinsMostly() {
        Backend a = backend("a", 1);
        Backend b = backend("b", 1);
        a.active.set(100);
        Scheduler s = Scheduler.create("p2c", List.of(a, b), null, 0);
        int toB = 0;
        for (int i = 0; i < 1000; i++) {
            if (s.pick(CLIENT, List.of()) == b) {
                toB++;
            }
        }
        assertTrue(toB > 700, "idle instance got " + toB + " of 1000");
    }

    @Test
    void sh_sameClient_sameInstanceAndAffinitySurvivesNewPlan() {
        Map<InetAddress, SourceHashScheduler.Affinity> affinity = new ConcurrentHashMap<>();
        List<Backend> bs = List.of(backend("a", 1), backend("b", 1), backend("c", 1));
        Scheduler s = Scheduler.create("sh", bs, affinity, 60_000_000_000L);
        Backend first = s.pick(CLIENT, List.of());
        for (int i = 0; i < 20; i++) {
            assertSame(first, s.pick(CLIENT, List.of()));
        }
        Scheduler next = Scheduler.create("sh", List.of(bs.get(0), bs.get(1), bs.get(2), backend("d", 1)), affinity, 60_000_000_000L);
        assertSame(first, next.pick(CLIENT, List.of()));
        Map<String, Integer> spread = new HashMap<>();
        for (int i = 0; i < 300; i++) {
            spread.merge(s.pick(Fixtures.addr("10.8.1." + (i % 250)), List.of()).instanceId, 1, Integer::sum);
        }
        assertEquals(3, spread.size(), "clients spread over all instances: " + spread);
    }

    @Test
    void sh_affinityInstanceEjected_clientMovedElsewhere() {
        List<Backend> bs = List.of(backend("a", 1), backend("b", 1));
        Scheduler s = Scheduler.create("sh", bs, new ConcurrentHashMap<>(), 60_000_000_000L);
        Backend first = s.pick(CLIENT, List.of());
        first.ejected = true;
        assertNotEquals(first, s.pick(CLIENT, List.of()));
    }

    @Test
    void canonical_ipvsAliasesAndUnknown_mappedToFive() {
        assertEquals("lc", Scheduler.canonical("wlc"));
        assertEquals("sh", Scheduler.canonical("mh"));
        assertEquals("wrr", Scheduler.canonical("fancy"));
        assertEquals("p2c", Scheduler.canonical("p2c"));
    }
}
