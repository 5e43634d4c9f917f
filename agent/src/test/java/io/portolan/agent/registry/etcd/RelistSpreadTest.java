package io.portolan.agent.registry.etcd;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.agent.registry.KvEvent;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Node;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The delay before a re-list after a compaction ({@link PrefixWatch#relistDelay}): each agent's turn among the fleet's nodes, on the clock. */
class RelistSpreadTest {

    @Test
    void relistDelay_noNodesKnown_relistsAtOnce() {
        assertEquals(0, PrefixWatch.relistDelay(0, -1, 0.99, 12_345));
        assertEquals(0, PrefixWatch.relistDelay(-3, 2, 0.5, 12_345));
    }

    @Test
    void relistDelay_theNextOccurrenceOfTheRanksTurn_onTheSharedClock() {
        // 3 nodes: one turn a second over a 3 s window
        assertEquals(0, PrefixWatch.relistDelay(3, 0, 0.5, 30_000));
        assertEquals(1_000, PrefixWatch.relistDelay(3, 1, 0.5, 30_000));
        assertEquals(500, PrefixWatch.relistDelay(3, 1, 0.5, 30_500));
        assertEquals(2_999, PrefixWatch.relistDelay(3, 0, 0.5, 30_001), "the turn just passed: the next window's");
        // 1,000 nodes: 10 turns a second over 100 s; 250 nodes: 2 a second over 125 s
        assertEquals(50_000, PrefixWatch.relistDelay(1_000, 500, 0.5, 0));
        assertEquals(99_900, PrefixWatch.relistDelay(1_000, 999, 0.5, 0));
        assertEquals(124_500, PrefixWatch.relistDelay(250, 249, 0.5, 0));
    }

    @Test
    void relistDelay_rankUnknown_drawnOverTheWholeWindow() {
        assertEquals(1_500, PrefixWatch.relistDelay(3, -1, 0.5, 777));
        assertEquals(50_000, PrefixWatch.relistDelay(1_000, -1, 0.5, 777));
        assertEquals(50_000, PrefixWatch.relistDelay(1_000, 1_000, 0.5, 777), "a rank past the fleet (the list changed): drawn");
    }

    @Test
    void relistDelay_randomOutsideUnitInterval_refused() {
        assertThrows(IllegalArgumentException.class, () -> PrefixWatch.relistDelay(10, 1, 1.0, 0));
        assertThrows(IllegalArgumentException.class, () -> PrefixWatch.relistDelay(10, 1, -0.1, 0));
    }

    /**
     * A fleet forced to re-list (a partition healed past a compaction), all of it or a fifth of it,
     * each agent noticing at its own moment within 5 s: in any second (any, not only whole ones) at
     * most 1 % of the fleet (at least one) lists, and every wait is within the window.
     */
    @Test
    void relistDelay_fleetBack_atMostOnePercentInAnySecond_whenEverEachNoticed() {
        for (int fleet : List.of(7, 99, 150, 250, 1_000, 1_099, 5_000)) {
            for (int back : List.of(fleet, Math.max(1, fleet / 5))) {
                List<Integer> ranks = new ArrayList<>();
                for (int r = 0; r < fleet; r++) {
                    ranks.add(r);
                }
                Collections.shuffle(ranks, new Random(fleet + back));
                Random random = new Random(back);
                long base = 1_700_000_000_000L + random.nextInt(1_000_000);
                long[] at = new long[back];
                for (int i = 0; i < back; i++) {
                    long noticed = base + random.nextInt(5_000);
                    long d = PrefixWatch.relistDelay(fleet, ranks.get(i), random.nextDouble(), noticed);
                    assertTrue(d >= 0 && d < 200_000, "delay " + d);
                    at[i] = noticed + d;
                }
                java.util.Arrays.sort(at);
                int perSecond = Math.max(1, fleet / 100);
                for (int i = 0; i + perSecond < back; i++) {
                    assertTrue(at[i + perSecond] - at[i] >= 1_000, back + " of " + fleet + " back: " + (perSecond + 1)
                            + " re-lists within a second, at " + at[i] + " and " + at[i + perSecond]);
                }
            }
        }
    }

    @Test
    void nodeRank_theNodesNameOrder_minusOneWhenNotListed() throws Exception {
        KeyLayout layout = new KeyLayout("/portolan/");
        RegistryState state = new RegistryState(layout, new SnapshotPublisher(), new SimpleMeterRegistry());
        List<KvEvent> events = new ArrayList<>();
        long rev = 1;
        for (String n : List.of("host-c", "host-a", "host-b")) {
            events.add(new KvEvent(layout.nodeKey(n), JsonCodec.encode(new Node(n, InetAddress.getByName("10.0.0.1"))), rev++));
        }
        state.apply(events, rev);
        assertEquals(0, state.nodeRank("host-a"));
        assertEquals(1, state.nodeRank("host-b"));
        assertEquals(2, state.nodeRank("host-c"));
        assertEquals(-1, state.nodeRank("host-d"));
        assertEquals(-1, state.nodeRank(null));
    }
}
