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

/** The delay before a re-list after a compaction ({@link PrefixWatch#relistDelay}): each agent's turn among the fleet's nodes. */
class RelistSpreadTest {

    @Test
    void relistDelay_noNodesKnown_relistsAtOnce() {
        assertEquals(0, PrefixWatch.relistDelay(0, -1, 0.99));
        assertEquals(0, PrefixWatch.relistDelay(-3, 2, 0.5));
    }

    @Test
    void relistDelay_aTurnPerRank_slotsOfASecondUpTo100Nodes_thenAWindowOf100s() {
        assertEquals(0, PrefixWatch.relistDelay(3, 0, 0.0));
        assertEquals(1_500, PrefixWatch.relistDelay(3, 1, 0.5)); // 3 nodes: a 1 s slot each
        assertEquals(2_999, PrefixWatch.relistDelay(3, 2, 0.9999));
        assertEquals(50_050, PrefixWatch.relistDelay(1_000, 500, 0.5)); // 1,000 nodes: 100 ms slots over 100 s
        assertTrue(PrefixWatch.relistDelay(50_000, 49_999, Math.nextDown(1.0)) < PrefixWatch.RELIST_SPREAD_MAX_MS, "capped at 100 s");
    }

    @Test
    void relistDelay_rankUnknown_drawnOverTheWholeWindow() {
        assertEquals(1_500, PrefixWatch.relistDelay(3, -1, 0.5));
        assertEquals(50_000, PrefixWatch.relistDelay(1_000, -1, 0.5));
        assertEquals(50_000, PrefixWatch.relistDelay(1_000, 1_000, 0.5), "a rank past the fleet (the list changed): drawn");
    }

    @Test
    void relistDelay_randomOutsideUnitInterval_refused() {
        assertThrows(IllegalArgumentException.class, () -> PrefixWatch.relistDelay(10, 1, 1.0));
        assertThrows(IllegalArgumentException.class, () -> PrefixWatch.relistDelay(10, 1, -0.1));
    }

    /**
     * A fleet forced to re-list at once (a partition healed past a compaction), all of it or a fifth
     * of it: however many come back, no second of the window holds more than 1 % of the fleet (a
     * turn each, by rank), and the whole fleet fills the window.
     */
    @Test
    void relistDelay_fleetAtOnce_atMostOnePercentInAnySecond() {
        for (int fleet : List.of(250, 1_000, 5_000)) {
            for (int back : List.of(fleet, fleet / 5)) {
                List<Integer> ranks = new ArrayList<>();
                for (int r = 0; r < fleet; r++) {
                    ranks.add(r);
                }
                Collections.shuffle(ranks, new Random(fleet + back));
                Random random = new Random(back);
                int[] perSecond = new int[(int) (PrefixWatch.RELIST_SPREAD_MAX_MS / 1000)];
                for (int rank : ranks.subList(0, back)) {
                    long d = PrefixWatch.relistDelay(fleet, rank, random.nextDouble());
                    assertTrue(d >= 0 && d < PrefixWatch.RELIST_SPREAD_MAX_MS, "delay " + d);
                    perSecond[(int) (d / 1000)]++;
                }
                int max = 0;
                int busy = 0;
                for (int n : perSecond) {
                    max = Math.max(max, n);
                    busy += n > 0 ? 1 : 0;
                }
                assertTrue(max <= Math.ceil(fleet / 100.0), back + " of " + fleet + " back: at most 1 % of the fleet in a second, got " + max);
                if (back == fleet) {
                    assertEquals(100, busy, "the whole fleet fills the window");
                }
            }
        }
    }

    /** Small fleets: one re-list a second at most. */
    @Test
    void relistDelay_smallFleet_oneASecond() {
        int[] perSecond = new int[10];
        for (int rank = 0; rank < 10; rank++) {
            perSecond[(int) (PrefixWatch.relistDelay(10, rank, 0.999) / 1000)]++;
        }
        for (int n : perSecond) {
            assertEquals(1, n);
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
