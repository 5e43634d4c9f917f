package io.portolan.agent.registry;

import io.portolan.proto.ClusterSnapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * The one place the current {@link ClusterSnapshot} lives. Listeners (DNS, data plane) are called
 * on the publishing thread, in registration order, before {@link #current()} moves on; a listener
 * that throws is logged and does not stop the others.
 */
public final class SnapshotPublisher {
    private static final Logger log = LoggerFactory.getLogger(SnapshotPublisher.class);

    private final AtomicReference<ClusterSnapshot> current = new AtomicReference<>(ClusterSnapshot.EMPTY);
    private final List<Consumer<ClusterSnapshot>> listeners = new CopyOnWriteArrayList<>();
    private final Object monitor = new Object();

    public ClusterSnapshot current() {
        return current.get();
    }

    /**
     * Adds a listener. It sees only snapshots built from a loaded registry: the current one at once
     * if one was published already, else the first one when it comes (never the empty placeholder
     * that stands before the first listing, which would tell a data plane to remove everything).
     */
    public void addListener(Consumer<ClusterSnapshot> listener) {
        listeners.add(listener);
        ClusterSnapshot now = current.get();
        if (now != ClusterSnapshot.EMPTY) {
            listener.accept(now);
        }
    }

    void publish(ClusterSnapshot snapshot) {
        for (Consumer<ClusterSnapshot> l : listeners) {
            try {
                l.accept(snapshot);
            } catch (RuntimeException e) {
                log.error("snapshot listener {} failed on revision {}; it keeps its previous state", l, snapshot.revision(), e);
            }
        }
        current.set(snapshot);
        synchronized (monitor) {
            monitor.notifyAll();
        }
    }

    /** Waits until a snapshot at or past {@code revision} is published; false on timeout. */
    public boolean awaitRevision(long revision, long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        synchronized (monitor) {
            while (current.get().revision() < revision) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    return false;
                }
                monitor.wait(left);
            }
        }
        return true;
    }
}
