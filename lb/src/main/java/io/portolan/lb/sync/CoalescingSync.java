package io.portolan.lb.sync;

import io.portolan.proto.ClusterSnapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.portolan.lb.DataPlaneStatus;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Turns a stream of snapshots into syncs of a kernel data plane, on a thread of its own:
 * <ul>
 *   <li>the latest snapshot wins: a burst of offers while a sync runs becomes one sync;</li>
 *   <li>at most one sync per {@code minInterval};</li>
 *   <li>a failed sync is retried with exponential backoff (up to {@code maxBackoff}), and the next
 *       sync after a failure is a full one ({@code full == true}: re-read the kernel, rewrite all);</li>
 *   <li>every {@code fullResyncEvery} a full sync runs even without changes (repairs drift).</li>
 * </ul>
 * {@link #offer} never blocks the caller (the agent's snapshot publisher).
 */
public final class CoalescingSync implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CoalescingSync.class);

    /** What is synced. {@code full} asks for a complete resync rather than an incremental one. */
    @FunctionalInterface
    public interface Target {
        void sync(ClusterSnapshot snapshot, boolean full) throws Exception;
    }

    private final String name;
    private final Target target;
    private final long minIntervalNanos;
    private final long maxBackoffNanos;
    private final ScheduledExecutorService thread;
    private final AtomicReference<ClusterSnapshot> pending = new AtomicReference<>();
    private final Object monitor = new Object();
    private boolean scheduled;
    private boolean fullNext = true;
    private long lastRunNanos;
    private int failures;
    private volatile ClusterSnapshot lastApplied;
    private volatile ClusterSnapshot lastOffered;
    private volatile long syncs;
    private volatile long failedSyncs;
    /** The last sync without error: when it ended and how long it took. */
    private volatile Instant lastSyncEnd;
    private volatile Duration lastSyncTook;

    public CoalescingSync(String name, Target target, Duration minInterval, Duration maxBackoff, Duration fullResyncEvery) {
        this.name = name;
        this.target = target;
        this.minIntervalNanos = minInterval.toNanos();
        this.maxBackoffNanos = maxBackoff.toNanos();
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, name + "-sync");
            t.setDaemon(true);
            return t;
        });
        this.lastRunNanos = System.nanoTime() - minIntervalNanos;
        if (!fullResyncEvery.isZero()) {
            long every = fullResyncEvery.toMillis();
            thread.scheduleWithFixedDelay(this::periodicFull, every, every, TimeUnit.MILLISECONDS);
        }
    }

    /** Hands over the newest snapshot; returns at once. */
    public void offer(ClusterSnapshot snapshot) {
        lastOffered = snapshot;
        pending.set(snapshot);
        schedule(0);
    }

    private void periodicFull() {
        ClusterSnapshot s = lastOffered;
        if (s == null) {
            return;
        }
        synchronized (monitor) {
            fullNext = true;
        }
        pending.compareAndSet(null, s);
        schedule(0);
    }

    private void schedule(long extraDelayNanos) {
        long delay;
        synchronized (monitor) {
            if (scheduled) {
                return;
            }
            scheduled = true;
            long sinceLast = System.nanoTime() - lastRunNanos;
            delay = Math.max(extraDelayNanos, minIntervalNanos - sinceLast);
        }
        try {
            thread.schedule(this::run, Math.max(0, delay), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException closed) {
            synchronized (monitor) {
                scheduled = false;
            }
        }
    }

    private void run() {
        boolean full;
        synchronized (monitor) {
            scheduled = false;
            lastRunNanos = System.nanoTime();
            full = fullNext;
        }
        ClusterSnapshot s = pending.getAndSet(null);
        if (s == null) {
            return;
        }
        long started = System.nanoTime();
        try {
            target.sync(s, full);
            lastSyncTook = Duration.ofNanos(System.nanoTime() - started);
            lastSyncEnd = Instant.now();
            synchronized (monitor) {
                fullNext = false;
                failures = 0;
            }
            syncs++;
            lastApplied = s;
            synchronized (this) {
                notifyAll();
            }
        } catch (Exception e) {
            long backoff;
            synchronized (monitor) {
                fullNext = true;
                failures++;
                backoff = Math.min(maxBackoffNanos, TimeUnit.MILLISECONDS.toNanos(100) << Math.min(failures - 1, 20));
            }
            failedSyncs++;
            pending.compareAndSet(null, s);
            log.warn("{}: sync of revision {} failed ({}); full resync in {} ms", name, s.revision(), e.toString(),
                    TimeUnit.NANOSECONDS.toMillis(backoff));
            schedule(backoff);
            return;
        }
        if (pending.get() != null) {
            schedule(0);
        }
    }

    /** The last snapshot synced without error, or null. */
    public ClusterSnapshot lastApplied() {
        return lastApplied;
    }

    public long syncs() {
        return syncs;
    }

    public long failedSyncs() {
        return failedSyncs;
    }

    /** The state for the status page, with what the plane adds: what it refused, its traffic. */
    public DataPlaneStatus status(Map<String, String> rejected, List<DataPlaneStatus.Traffic> traffic, String trafficNote) {
        ClusterSnapshot applied = lastApplied;
        return new DataPlaneStatus(name, syncs, failedSyncs, lastSyncEnd, lastSyncTook, applied == null ? -1 : applied.revision(),
                rejected, traffic, trafficNote);
    }

    /** Waits until a snapshot at or past {@code revision} has been synced; false on timeout. */
    public synchronized boolean awaitApplied(long revision, long timeoutMillis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (lastApplied == null || lastApplied.revision() < revision) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }

    @Override
    public void close() {
        thread.shutdownNow();
        try {
            thread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
