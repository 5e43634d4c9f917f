package io.portolan.agent.registry;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The local deadlines both stores keep: due keys in order, refreshes that queue nothing, work proportional to what is due. */
class DeadlinesTest {
    @Test
    void expired_returnsDueKeysInOrder_andForgetsThem() {
        Deadlines<String> d = new Deadlines<>();
        d.set("c", 30);
        d.set("a", 10);
        d.set("b", 20);
        assertEquals(List.of(), d.expired(10), "a deadline is due after it, not at it");
        assertEquals(List.of("a", "b"), d.expired(25));
        assertFalse(d.contains("a"));
        assertTrue(d.contains("c"));
        assertEquals(1, d.size());
        assertEquals(List.of("c"), d.expired(1_000));
        assertEquals(0, d.size());
    }

    @Test
    void touch_movesLater_andEarlier_removeForgets_touchOfUnknownIsFalse() {
        Deadlines<String> d = new Deadlines<>();
        d.set("a", 10);
        d.set("b", 50);
        assertTrue(d.touch("a", 100));
        assertTrue(d.touch("b", 5)); // earlier than its place in the queue
        assertEquals(List.of("b"), d.expired(20));
        assertEquals(List.of(), d.expired(99));
        assertEquals(List.of("a"), d.expired(101));
        assertFalse(d.touch("a", 500), "expired: nothing to move (the caller puts it again)");
        d.set("x", 10);
        assertTrue(d.remove("x"));
        assertFalse(d.remove("x"));
        assertEquals(List.of(), d.expired(1_000));
    }

    @Test
    void deadlinesAroundNanoTimesWrap_compareBySubtraction() {
        Deadlines<String> d = new Deadlines<>();
        long near = Long.MAX_VALUE - 5;
        d.set("a", near);
        d.set("b", near + 10); // past Long.MAX_VALUE: negative, yet later
        assertEquals(List.of("a"), d.expired(near + 1));
        assertEquals(List.of("b"), d.expired(near + 11));
    }

    @Test
    void tickWithNothingDue_looksAtNoEntry_refreshedKeysAreLookedAtOncePerDeadline() {
        Deadlines<Integer> d = new Deadlines<>();
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            d.set(i, 1_000 + i % 100);
        }
        // heartbeats: every key moved to 2,000+, many times
        for (int round = 0; round < 5; round++) {
            for (int i = 0; i < n; i++) {
                assertTrue(d.touch(i, 2_000 + round + i % 100));
            }
        }
        long before = d.examined();
        for (long now = 0; now < 1_000; now += 10) {
            assertEquals(List.of(), d.expired(now));
        }
        assertEquals(before, d.examined(), "ticks with nothing due take nothing off the queue");
        // past the first deadlines: each key looked at once (queued again at its new deadline), none due
        assertEquals(List.of(), d.expired(1_500));
        assertEquals(before + n, d.examined());
        List<Integer> due = d.expired(2_005);
        assertEquals(n / 100, due.size(), "the keys whose last deadline (2,004 + i % 100) has passed");
        assertTrue(d.examined() - before - n <= n / 100 + n / 100, "only what is due is looked at: " + (d.examined() - before - n));
        List<Integer> rest = new ArrayList<>(d.expired(10_000));
        assertEquals(n - n / 100, rest.size());
    }
}
