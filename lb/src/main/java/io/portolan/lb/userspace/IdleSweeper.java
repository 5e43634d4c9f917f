package io.portolan.lb.userspace;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.FastThreadLocal;

import java.util.concurrent.TimeUnit;

/**
 * The idle timeout of the TCP connections of one event loop: one timer per loop, not one per
 * connection. Every {@link #TICK_NANOS} it walks the loop's connections (an intrusive list, O(1) to
 * join and leave) and closes those that have read nothing, either side, for their service's idle
 * timeout. A connection is closed between its timeout and its timeout plus two ticks.
 *
 * <p>It replaces Netty's {@code IdleStateHandler}, which cost every connection a scheduled task
 * (queued and cancelled) and a handler in its pipeline that every read, write and event crossed,
 * and every write to the client a promise and a listener. Reading counts as activity on both sides:
 * a byte written to one side was read from the other, and a side that stops taking bytes stops
 * the reads from its peer (back-pressure), so it goes idle as it did with writes observed.
 *
 * <p>Confined to its event loop's thread: no locks. On a Netty event loop it schedules its own
 * ticks; the native loop ({@link NativeLoop}) has none to schedule on and calls {@link #sweep} itself.
 */
final class IdleSweeper {
    static final long TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    private static final FastThreadLocal<IdleSweeper> OF_LOOP = new FastThreadLocal<>();

    private final EventLoop loop;
    private final Runnable sweep = this::sweepAndReschedule;
    private ProxiedConnection head;
    private boolean scheduled;

    /** A sweeper that schedules its ticks on {@code loop}, or (null) is ticked by its owner. */
    IdleSweeper(EventLoop loop) {
        this.loop = loop;
    }

    /** The sweeper of {@code loop}; call on that loop's thread. */
    static IdleSweeper of(EventLoop loop) {
        IdleSweeper s = OF_LOOP.get();
        if (s == null || s.loop != loop) {
            s = new IdleSweeper(loop);
            OF_LOOP.set(s);
        }
        return s;
    }

    void add(ProxiedConnection c) {
        c.idleSince = System.nanoTime();
        c.idleNext = head;
        if (head != null) {
            head.idlePrev = c;
        }
        head = c;
        if (!scheduled && loop != null) {
            scheduled = true;
            loop.schedule(sweep, TICK_NANOS, TimeUnit.NANOSECONDS);
        }
    }

    void remove(ProxiedConnection c) {
        if (c.idlePrev != null) {
            c.idlePrev.idleNext = c.idleNext;
        } else if (head == c) {
            head = c.idleNext;
        } else {
            return; // not (or no longer) in the list
        }
        if (c.idleNext != null) {
            c.idleNext.idlePrev = c.idlePrev;
        }
        c.idlePrev = null;
        c.idleNext = null;
    }

    boolean isEmpty() {
        return head == null;
    }

    private void sweepAndReschedule() {
        if (sweep()) {
            loop.schedule(sweep, TICK_NANOS, TimeUnit.NANOSECONDS);
        } else {
            scheduled = false;
        }
    }

    /** One tick: closes the connections idle for their limit; true while any remain. */
    boolean sweep() {
        long now = System.nanoTime();
        for (ProxiedConnection c = head; c != null; ) {
            ProxiedConnection next = c.idleNext;
            if (c.reads != c.readsSeen) {
                c.readsSeen = c.reads;
                c.idleSince = now;
            } else if (now - c.idleSince >= c.idleLimitNanos()) {
                remove(c);
                c.idleTimeout();
            }
            c = next;
        }
        return head != null;
    }
}
