package io.portolan.agent.registry.etcd;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The delay before a re-list after a compaction ({@link PrefixWatch#relistDelay}): bounded, and spread with the fleet. */
class RelistSpreadTest {

    @Test
    void relistDelay_noNodesKnown_relistsAtOnce() {
        assertEquals(0, PrefixWatch.relistDelay(0, 0.99));
        assertEquals(0, PrefixWatch.relistDelay(-3, 0.5));
    }

    @Test
    void relistDelay_growsWithTheFleet_upToTheCap() {
        assertEquals(0, PrefixWatch.relistDelay(3, 0.0));
        assertEquals(150, PrefixWatch.relistDelay(3, 0.5)); // 3 nodes: spread 300 ms
        assertEquals(50_000, PrefixWatch.relistDelay(1_000, 0.5)); // 1,000 nodes: spread 100 s
        assertEquals(50_000, PrefixWatch.relistDelay(50_000, 0.5)); // capped at 100 s
        assertTrue(PrefixWatch.relistDelay(50_000, Math.nextDown(1.0)) < PrefixWatch.RELIST_SPREAD_MAX_MS);
    }

    @Test
    void relistDelay_randomOutsideUnitInterval_refused() {
        assertThrows(IllegalArgumentException.class, () -> PrefixWatch.relistDelay(10, 1.0));
        assertThrows(IllegalArgumentException.class, () -> PrefixWatch.relistDelay(10, -0.1));
    }

    /**
     * A whole fleet of 1,000 agents forced to re-list at once (a partition healed past a compaction):
     * their re-lists land within the cap, about 1 % of the fleet per second on average, and no second
     * holds more than a few times that (a seeded draw, so the outcome is fixed).
     */
    @Test
    void relistDelay_wholeFleetAtOnce_aboutOnePercentPerSecond() {
        int fleet = 1_000;
        Random random = new Random(15);
        int[] perSecond = new int[(int) (PrefixWatch.RELIST_SPREAD_MAX_MS / 1000)];
        for (int i = 0; i < fleet; i++) {
            long d = PrefixWatch.relistDelay(fleet, random.nextDouble());
            assertTrue(d >= 0 && d < PrefixWatch.RELIST_SPREAD_MAX_MS, "delay " + d);
            perSecond[(int) (d / 1000)]++;
        }
        int max = 0;
        int busySeconds = 0;
        for (int n : perSecond) {
            max = Math.max(max, n);
            busySeconds += n > 0 ? 1 : 0;
        }
        assertTrue(max <= 3 * fleet / 100, "at most 3 % of the fleet in any second, got " + max);
        assertTrue(busySeconds >= 90, "the re-lists spread over the whole window, got " + busySeconds + " seconds with one");
    }
}
