package io.portolan.lb.userspace;

/** An open proxied connection (TCP) or flow (UDP), as a draining backend and the data plane's shutdown see it. */
interface Link {
    /** Closes it; callable from any thread. */
    void close();
}
