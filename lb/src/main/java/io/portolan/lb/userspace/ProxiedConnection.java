package io.portolan.lb.userspace;

/**
 * What both TCP relays ({@link TcpConnection} on Netty, {@link NativeConnection} on the native
 * loop) keep per connection for their loop's {@link IdleSweeper}.
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

    ProxiedConnection(TcpFrontend fe) {
        this.fe = fe;
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
