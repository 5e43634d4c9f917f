package io.portolan.lb.userspace;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One thread of the native TCP relay: an epoll set of its own, the listening sockets of every TCP
 * service port (one per loop with SO_REUSEPORT, so the kernel spreads connections and no thread
 * hands one to another), and the connections accepted on them, each with both its sockets here.
 *
 * <p>Every socket is added to the epoll set once, edge-triggered for input, output and the peer's
 * FIN, and never modified: a connection does not ask to stop or start reading, it just does not
 * read while the other side cannot take more. A closed socket leaves the set by its close alone.
 * An event names its connection by a slot and a generation, so an event still queued for a slot
 * freed and reused within one batch is dropped.
 *
 * <p>Other threads reach the loop only through {@link #execute} (an eventfd wakes it). Everything
 * else here is confined to the loop's thread.
 */
final class NativeLoop implements Executor {
    private static final Logger log = LoggerFactory.getLogger(NativeLoop.class);

    /**
     * A read's size, and the size of the buffer holding what one side could not take yet: HAProxy's
     * default buffer size. At most one such buffer per direction of a connection is held.
     */
    static final int CHUNK = 16 * 1024;
    /** Chunks relayed for one side per turn; then the loop serves others and comes back (fairness). */
    static final int CHUNKS_PER_TURN = 16;
    private static final int MAX_EVENTS = 512;
    private static final int ACCEPTS_PER_WAKE = 64;
    private static final int POOLED_BUFFERS = 64;
    private static final long WAKE = -1L;
    static final int CONNECTION_EVENTS = NativeIo.EPOLLIN | NativeIo.EPOLLOUT | NativeIo.EPOLLRDHUP | NativeIo.EPOLLET;

    /** A socket registered with the loop: it gets its events. */
    interface Handler {
        /** {@code side} is the low bit of the registration (0 or 1); {@code events} epoll's mask. */
        void onEvent(int side, int events);
    }

    /** A listening socket of one frontend, registered level-triggered. */
    private static final class Listener implements Handler {
        final NativeLoop loop;
        final TcpFrontend fe;
        final int fd;
        int slot;

        Listener(NativeLoop loop, TcpFrontend fe, int fd) {
            this.loop = loop;
            this.fe = fe;
            this.fd = fd;
        }

        @Override
        public void onEvent(int side, int events) {
            for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
                int cfd = NativeIo.accept(fd, loop.peerAddress);
                if (cfd >= 0) {
                    try {
                        fe.accepted(loop, cfd, loop.peer);
                    } catch (RuntimeException e) {
                        log.error("{}: cannot take a connection on {}", loop.name, fe, e);
                    }
                    continue;
                }
                if (cfd == -NativeIo.EAGAIN) {
                    return;
                }
                if (cfd != -NativeIo.EINTR && cfd != -103 /* ECONNABORTED */) {
                    loop.acceptFailed(this, cfd);
                    return;
                }
            }
        }
    }

    final String name;
    private final int epfd;
    private final int wakeFd;
    private final int eventSize;
    private final ByteBuffer events;
    private final long eventsAddress;
    /** Where a read lands before it is written to the other side (most bytes never leave it). */
    final ByteBuffer chunk;
    final long chunkAddress;
    /** accept()'s peer address: [family][port][address], see {@code portolan_lb.c}. */
    final ByteBuffer peer;
    private final long peerAddress;
    final IdleSweeper sweeper = new IdleSweeper(null);
    private final ConcurrentLinkedQueue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean wakePending = new AtomicBoolean();
    private final ArrayDeque<Pending> pool = new ArrayDeque<>();
    /** Connections that stopped relaying at {@link #CHUNKS_PER_TURN} with bytes left: resumed after the batch. */
    private final ArrayDeque<NativeConnection> resumes = new ArrayDeque<>();
    private Handler[] slots = new Handler[256];
    private int[] generations = new int[256];
    private int[] free = new int[256];
    private int freeCount;
    private int used;
    private final Thread thread;
    private volatile boolean stopping;
    private long lastWarning;
    private static final long ACCEPT_PAUSE_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private final ArrayDeque<Listener> paused = new ArrayDeque<>();
    private long resumeAcceptsAt;

    NativeLoop(String name) {
        this.name = name;
        int ep = NativeIo.epollCreate();
        if (ep < 0) {
            throw new IllegalStateException(name + ": epoll_create1: " + NativeIo.error(ep));
        }
        int wake = NativeIo.eventFd();
        if (wake < 0) {
            NativeIo.close(ep);
            throw new IllegalStateException(name + ": eventfd: " + NativeIo.error(wake));
        }
        int r = NativeIo.epollCtl(ep, NativeIo.EPOLL_CTL_ADD, wake, NativeIo.EPOLLIN | NativeIo.EPOLLET, WAKE);
        if (r < 0) {
            NativeIo.close(wake);
            NativeIo.close(ep);
            throw new IllegalStateException(name + ": epoll_ctl(eventfd): " + NativeIo.error(r));
        }
        this.epfd = ep;
        this.wakeFd = wake;
        this.eventSize = NativeIo.eventSize();
        this.events = ByteBuffer.allocateDirect(MAX_EVENTS * eventSize).order(ByteOrder.nativeOrder());
        this.eventsAddress = NativeIo.address(events);
        this.chunk = ByteBuffer.allocateDirect(CHUNK);
        this.chunkAddress = NativeIo.address(chunk);
        this.peer = ByteBuffer.allocateDirect(32).order(ByteOrder.nativeOrder());
        this.peerAddress = NativeIo.address(peer);
        this.thread = new Thread(this::run, name);
        thread.setDaemon(true);
        thread.start();
    }

    boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    @Override
    public void execute(Runnable task) {
        tasks.add(task);
        if (!inLoop() && wakePending.compareAndSet(false, true)) {
            NativeIo.eventFdWrite(wakeFd);
        }
    }

    /** Adds {@code fd} to the epoll set as side {@code side} of the handler in {@code slot}; 0 or -errno. */
    int register(int fd, int side, int events, int slot) {
        long data = ((long) generations[slot] << 32) | ((long) slot << 1) | side;
        return NativeIo.epollCtl(epfd, NativeIo.EPOLL_CTL_ADD, fd, events, data);
    }

    /** A slot for {@code handler}, its events not yet registered. */
    int allocate(Handler handler) {
        int slot;
        if (freeCount > 0) {
            slot = free[--freeCount];
        } else {
            if (used == slots.length) {
                slots = Arrays.copyOf(slots, used * 2);
                generations = Arrays.copyOf(generations, used * 2);
                free = Arrays.copyOf(free, used * 2);
            }
            slot = used++;
        }
        slots[slot] = handler;
        return slot;
    }

    /** Frees a slot: events still queued for it are dropped (its generation moves on). */
    void release(int slot) {
        slots[slot] = null;
        generations[slot]++;
        free[freeCount++] = slot;
    }

    /** A buffer for bytes a side cannot take yet; null when direct memory is exhausted. */
    Pending takeBuffer() {
        Pending p = pool.poll();
        if (p != null) {
            return p;
        }
        try {
            return new Pending();
        } catch (OutOfMemoryError e) {
            warn("cannot hold more unsent bytes: " + e.getMessage() + "; closing the connection");
            return null;
        }
    }

    /** {@code c} has bytes left to relay after its turn: it goes on once the others had theirs. */
    void resumeLater(NativeConnection c) {
        resumes.add(c);
    }

    void returnBuffer(Pending p) {
        p.position = 0;
        p.limit = 0;
        if (pool.size() < POOLED_BUFFERS) {
            pool.add(p);
        }
    }

    /** Opens {@code fe}'s listening socket for this loop; on the caller's thread, registered on the loop's. */
    void listen(TcpFrontend fe, int fd) {
        Listener l = new Listener(this, fe, fd);
        execute(() -> {
            l.slot = allocate(l);
            int r = register(fd, 0, NativeIo.EPOLLIN, l.slot);
            if (r < 0) {
                log.error("{}: cannot watch the listening socket of {}: {}", name, fe, NativeIo.error(r));
                release(l.slot);
                NativeIo.close(fd);
            }
        });
    }

    /** Closes {@code fe}'s listening socket of this loop (its queued connections are reset). */
    void unlisten(TcpFrontend fe) {
        execute(() -> {
            for (int i = 0; i < used; i++) {
                if (slots[i] instanceof Listener l && l.fe == fe) {
                    NativeIo.close(l.fd);
                    release(i);
                }
            }
        });
    }

    /**
     * accept() failed for want of a resource (EMFILE, ENFILE, ENOBUFS): the listener is taken out of
     * the epoll set for {@link #ACCEPT_PAUSE_NANOS}, since level-triggered it would wake the loop at
     * once, again and again, while the connection waits in the queue.
     */
    private void acceptFailed(Listener l, int err) {
        warn("accept on " + l.fe + " failed: " + NativeIo.error(err) + "; pausing accepts for 100 ms");
        if (NativeIo.epollCtl(epfd, NativeIo.EPOLL_CTL_DEL, l.fd, 0, 0) == 0) {
            paused.add(l);
            resumeAcceptsAt = System.nanoTime() + ACCEPT_PAUSE_NANOS;
        }
    }

    private void resumeAccepts() {
        for (Listener l; (l = paused.poll()) != null; ) {
            if (slots[l.slot] == l) { // not closed meanwhile
                register(l.fd, 0, NativeIo.EPOLLIN, l.slot);
            }
        }
    }

    /** A warning at most every 5 s: what fails per connection (EMFILE, no memory) must not flood the log. */
    private void warn(String what) {
        long now = System.nanoTime();
        if (now - lastWarning > TimeUnit.SECONDS.toNanos(5)) {
            lastWarning = now;
            log.warn("{}: {}", name, what);
        }
    }

    private void run() {
        long nextTick = System.nanoTime() + IdleSweeper.TICK_NANOS;
        while (!stopping) {
            int timeout = -1;
            if (!resumes.isEmpty()) {
                timeout = 0;
            } else if (!sweeper.isEmpty()) {
                timeout = (int) Math.max(0, TimeUnit.NANOSECONDS.toMillis(nextTick - System.nanoTime()) + 1);
            }
            if (!paused.isEmpty()) {
                int pause = (int) Math.max(0, TimeUnit.NANOSECONDS.toMillis(resumeAcceptsAt - System.nanoTime()) + 1);
                timeout = timeout < 0 ? pause : Math.min(timeout, pause);
            }
            int n = NativeIo.epollWait(epfd, eventsAddress, MAX_EVENTS, timeout);
            if (n < 0 && n != -NativeIo.EINTR) {
                log.error("{}: epoll_wait: {}", name, NativeIo.error(n));
                break;
            }
            for (int i = 0; i < n; i++) {
                int base = i * eventSize;
                int ev = events.getInt(base);
                long data = events.getLong(base + eventSize - 8);
                if (data == WAKE) {
                    NativeIo.eventFdRead(wakeFd);
                    wakePending.set(false);
                    continue;
                }
                int slot = (int) data >>> 1;
                if (slot < used && generations[slot] == (int) (data >>> 32)) {
                    Handler h = slots[slot];
                    if (h != null) {
                        dispatch(h, (int) data & 1, ev);
                    }
                }
            }
            for (int i = resumes.size(); i > 0; i--) {
                NativeConnection c = resumes.poll();
                try {
                    c.resume();
                } catch (RuntimeException e) {
                    log.error("{}: unexpected error on {}", name, c, e);
                    c.close();
                }
            }
            runTasks();
            if (!paused.isEmpty() && System.nanoTime() - resumeAcceptsAt >= 0) {
                resumeAccepts();
            }
            if (!sweeper.isEmpty()) {
                long now = System.nanoTime();
                if (now - nextTick >= 0) {
                    try {
                        sweeper.sweep();
                    } catch (RuntimeException e) {
                        log.error("{}: idle sweep failed", name, e);
                    }
                    nextTick = now + IdleSweeper.TICK_NANOS;
                }
            } else {
                nextTick = System.nanoTime() + IdleSweeper.TICK_NANOS;
            }
        }
        runTasks();
        for (int i = 0; i < used; i++) {
            Handler h = slots[i];
            if (h instanceof Listener l) {
                NativeIo.close(l.fd);
            } else if (h instanceof NativeConnection c) {
                c.close();
            }
        }
        runTasks();
        wakePending.set(true); // no eventfd write from here on: its number may be reused once closed
        NativeIo.close(wakeFd);
        NativeIo.close(epfd);
    }

    private void dispatch(Handler h, int side, int ev) {
        try {
            h.onEvent(side, ev);
        } catch (RuntimeException e) {
            log.error("{}: unexpected error on {}", name, h, e);
            if (h instanceof NativeConnection c) {
                c.close();
            }
        }
    }

    private void runTasks() {
        Runnable t;
        while ((t = tasks.poll()) != null) {
            try {
                t.run();
            } catch (RuntimeException e) {
                log.error("{}: task failed", name, e);
            }
        }
    }

    /** Stops the loop: closes every socket it holds and waits for its thread (bounded). */
    void shutdown(long timeoutMillis) {
        execute(() -> stopping = true);
        if (!inLoop()) {
            try {
                thread.join(timeoutMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Bytes one side could not take yet, in a direct buffer of {@link #CHUNK} bytes. */
    static final class Pending {
        /** Buffers ever allocated, all loops (pooled ones are reused): for tests of the memory bound. */
        static final java.util.concurrent.atomic.AtomicLong CREATED = new java.util.concurrent.atomic.AtomicLong();

        final ByteBuffer buffer = ByteBuffer.allocateDirect(CHUNK);
        final long address = NativeIo.address(buffer);
        int position;
        int limit;

        Pending() {
            CREATED.incrementAndGet();
        }
    }
}
