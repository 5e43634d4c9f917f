package io.portolan.lb.sync;

import io.portolan.proto.ClusterSnapshot;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CoalescingSyncTest {
    static ClusterSnapshot rev(long r) {
        return new ClusterSnapshot(r, Map.of(), Map.of());
    }

    @Test
    void burst_coalescedToFewSyncs_lastRevisionWins() throws Exception {
        List<Long> seen = new CopyOnWriteArrayList<>();
        try (CoalescingSync s = new CoalescingSync("t", (snap, full) -> {
            seen.add(snap.revision());
            Thread.sleep(20);
        }, Duration.ofMillis(50), Duration.ofSeconds(1), Duration.ZERO)) {
            for (long r = 1; r <= 1000; r++) {
                s.offer(rev(r));
            }
            assertTrue(s.awaitApplied(1000, 5_000));
            assertTrue(seen.size() < 10, "1000 offers became " + seen.size() + " syncs");
            assertEquals(1000L, seen.get(seen.size() - 1));
        }
    }

    @Test
    void failure_retriedWithBackoff_nextSyncIsFull() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        List<Boolean> fulls = new CopyOnWriteArrayList<>();
        try (CoalescingSync s = new CoalescingSync("t", (snap, full) -> {
            fulls.add(full);
            if (calls.incrementAndGet() == 2) {
                throw new IllegalStateException("kernel said no");
            }
        }, Duration.ZERO, Duration.ofMillis(200), Duration.ZERO)) {
            s.offer(rev(1));
            assertTrue(s.awaitApplied(1, 2_000));
            s.offer(rev(2));
            assertTrue(s.awaitApplied(2, 2_000));
            assertEquals(List.of(true, false, true), fulls, "first sync full, failed incremental retried as full");
            assertEquals(1, s.failedSyncs());
            assertFalse(s.awaitApplied(3, 50));
        }
    }

    @Test
    void status_saysSyncsFailuresAndTheLastSyncedRevision() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (CoalescingSync s = new CoalescingSync("t", (snap, full) -> {
            if (calls.incrementAndGet() == 2) {
                throw new IllegalStateException("kernel said no");
            }
        }, Duration.ZERO, Duration.ofMillis(100), Duration.ZERO)) {
            io.portolan.lb.DataPlaneStatus none = s.status(Map.of(), List.of(), "n/a");
            assertEquals(-1, none.syncedRevision());
            assertEquals(null, none.lastSync());
            s.offer(rev(7));
            assertTrue(s.awaitApplied(7, 2_000));
            s.offer(rev(8));
            assertTrue(s.awaitApplied(8, 2_000));
            io.portolan.lb.DataPlaneStatus st = s.status(Map.of("web", "refused"), List.of(), "n/a");
            assertEquals("t", st.name());
            assertEquals(2, st.syncs());
            assertEquals(1, st.failedSyncs());
            assertEquals(8, st.syncedRevision());
            assertTrue(st.lastSync() != null && !st.lastSyncTook().isNegative());
            assertEquals(Map.of("web", "refused"), st.rejected());
        }
    }
}
