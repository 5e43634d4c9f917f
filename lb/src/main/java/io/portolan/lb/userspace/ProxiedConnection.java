package io.portolan.lb.userspace;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * What both TCP relays ({@link TcpConnection} on Netty, {@link NativeConnection} on the native
 * loop) share per connection: the choice of instance across connect attempts, and what their
 * loop's {@link IdleSweeper} keeps.
 */
abstract class ProxiedConnection implements Link {
    final TcpFrontend fe;
    /** Reads on either side; {@link IdleSweeper} compares it with what it saw at its last tick. */
    long reads;
    // IdleSweeper's: the reads seen at its last tick, since when none came, its list links.
    long readsSeen;
    long idleSince;
    ProxiedConnection idlePrev;
    ProxiedConnection idleNext;

    private List<Backend> tried = List.of();
    private int attempts;

    ProxiedConnection(TcpFrontend fe) {
        this.fe = fe;
    }

    /**
     * The instance for the next connect attempt, its active count taken (give it back with
     * {@link #release}); null when none is left, the refusal counted.
     */
    final Backend pick(InetAddress client) {
        Backend b = fe.scheduler.pick(client, tried);
        if (b == null) {
            (attempts == 0 ? fe.refusedNoInstance : fe.refusedConnectFailed).increment();
            return null;
        }
        b.active.incrementAndGet();
        return b;
    }

    /** After a failed connect to {@code b}: true if another instance may be tried, else the refusal is counted. */
    final boolean mayRetry(Backend b) {
        if (attempts++ < fe.ctx.config.connectRetries()) {
            List<Backend> t = new ArrayList<>(tried);
            t.add(b);
            tried = t;
            return true;
        }
        fe.refusedConnectFailed.increment();
        return false;
    }

    /** Gives back {@code b}'s active count: a drained instance goes away with its last connection. */
    final void release(Backend b) {
        b.active.decrementAndGet();
        fe.released(b);
    }

    /** How long it may go without a read before {@link #idleTimeout} (the service's idle timeout). */
    long idleLimitNanos() {
        return fe.idleNanos;
    }

    /** Called by {@link IdleSweeper} on the loop's thread, the connection already out of its list. */
    abstract void idleTimeout();

    /** The client socket's file descriptor, for tests that ask the kernel about it. */
    abstract int clientFd();
}
