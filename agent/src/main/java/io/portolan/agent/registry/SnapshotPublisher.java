package io.portolan.agent.registry;

import io.portolan.proto.ClusterSnapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * The one place the current {@link ClusterSnapshot} lives. Each listener (DNS, a data plane) runs
 * on a thread of its own and always gets the newest snapshot: while it is busy with one, newer
 * ones replace each other, so a slow consumer never delays the others, nor the registry. A listener
 * that throws is logged and keeps its previous state.
 */
public final class SnapshotPublisher implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SnapshotPublisher.class);

    private final AtomicReference<ClusterSnapshot> current = new AtomicReference<>(ClusterSnapshot.EMPTY);
    private final List<Mailbox> listeners = new CopyOnWriteArrayList<>();
    private final List<Consumer<ClusterSnapshot>> direct = new CopyOnWriteArrayList<>();
    private final Object monitor = new Object();

    public ClusterSnapshot current() {
        return current.get();
    }

    /**
     * Adds a listener. It sees only snapshots built from a loaded registry: the current one at once
     * if one was published already, else the first one when it comes (never the empty placeholder
     * that stands before the first listing, which would tell a data plane to remove everything).
     */
    public void addListener(String name, Consumer<ClusterSnapshot> listener) {
        Mailbox m = new Mailbox(name, listener);
        listeners.add(m);
        ClusterSnapshot now = current.get();
        if (now != ClusterSnapshot.EMPTY) {
            m.offer(now);
        }
    }

    /**
     * Adds a listener that takes the snapshot on the publishing thread: one whose {@code accept}
     * returns at once because it coalesces bursts itself (a kernel data plane hands the snapshot to its
     * {@code CoalescingSync}). Same rule as {@link #addListener}: never the empty placeholder.
     */
    public void addDirectListener(String name, Consumer<ClusterSnapshot> listener) {
        Consumer<ClusterSnapshot> guarded = s -> {
            try {
                listener.accept(s);
            } catch (RuntimeException e) {
                log.error("{} failed on snapshot revision {}; it keeps its previous state", name, s.revision(), e);
            }
        };
        synchronized (direct) { // no publish in between: the listener sees snapshots in order
            direct.add(guarded);
            ClusterSnapshot now = current.get();
            if (now != ClusterSnapshot.EMPTY) {
                guarded.accept(now);
            }
        }
    }

    void publish(ClusterSnapshot snapshot) {
        current.set(snapshot);
        synchronized (monitor) {
            monitor.notifyAll();
        }
        for (Mailbox m : listeners) {
            m.offer(snapshot);
        }
        synchronized (direct) {
            for (Consumer<ClusterSnapshot> d : direct) {
                d.accept(snapshot);
            }
        }
    }

    /** Whether every listener on a thread of its own has taken at least one snapshot (DNS answers from the registry). */
    public boolean listenersCaughtUp() {
        for (Mailbox m : listeners) {
            if (!m.tookOne) {
                return false;
            }
        }
        return current.get() != ClusterSnapshot.EMPTY;
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

    @Override
    public void close() {
        listeners.forEach(Mailbox::close);
    }

    /** One listener's thread: latest snapshot wins. */
    private static final class Mailbox implements Runnable {
        private final String name;
        private final Consumer<ClusterSnapshot> listener;
        private final AtomicReference<ClusterSnapshot> pending = new AtomicReference<>();
        private final Thread thread;
        private volatile boolean closed;
        /** Set once the listener has taken a snapshot (whether it applied or refused it). */
        volatile boolean tookOne;

        Mailbox(String name, Consumer<ClusterSnapshot> listener) {
            this.name = name;
            this.listener = listener;
            this.thread = new Thread(this, "snapshot-" + name);
            thread.setDaemon(true);
            thread.start();
        }

        void offer(ClusterSnapshot s) {
            pending.set(s);
            synchronized (this) {
                notifyAll();
            }
        }

        @Override
        public void run() {
            while (!closed) {
                ClusterSnapshot s = pending.getAndSet(null);
                if (s == null) {
                    synchronized (this) {
                        if (pending.get() == null && !closed) {
                            try {
                                wait();
                            } catch (InterruptedException e) {
                                return;
                            }
                        }
                    }
                    continue;
                }
                try {
                    listener.accept(s);
                } catch (RuntimeException e) {
                    log.error("{} failed on snapshot revision {}; it keeps its previous state", name, s.revision(), e);
                } finally {
                    tookOne = true;
                }
            }
        }

        void close() {
            closed = true;
            thread.interrupt();
        }
    }
}
