package io.portolan.lb.userspace;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The local addresses upstream connections are bound to, taken in turn per address family. Each
 * address brings its own ~64k (ip_local_port_range) source ports per instance address and port,
 * because the socket is bound with IP_BIND_ADDRESS_NO_PORT and the kernel picks the port at
 * connect time by the full 4-tuple.
 */
final class SourcePool {
    private final List<InetAddress> v4 = new ArrayList<>();
    private final List<InetAddress> v6 = new ArrayList<>();
    private final AtomicInteger next = new AtomicInteger();

    SourcePool(List<InetAddress> addresses) {
        for (InetAddress a : addresses) {
            (a instanceof Inet4Address ? v4 : v6).add(a);
        }
    }

    /** The next source for a connection to {@code destination}; null when none of its family is configured. */
    InetAddress next(InetAddress destination) {
        List<InetAddress> l = destination instanceof Inet4Address ? v4 : v6;
        if (l.isEmpty()) {
            return null;
        }
        return l.get(Math.floorMod(next.getAndIncrement(), l.size()));
    }

    /** How many sources a connection to {@code destination} can try. */
    int size(InetAddress destination) {
        return (destination instanceof Inet4Address ? v4 : v6).size();
    }
}
