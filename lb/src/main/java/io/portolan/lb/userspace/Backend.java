package io.portolan.lb.userspace;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;

import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * One instance behind one service port, as the proxy sees it: where to connect, its weight, its
 * live counters and its circuit breaker. Outlives snapshots (keyed by service, port, instance id
 * and address) so counters, breakers and draining connections carry over.
 */
final class Backend {
    final String key;
    final String instanceId;
    final InetSocketAddress address;
    /** {@code address}'s IP as bytes (4 or 16), for the native relay's connect. */
    final byte[] addressBytes;
    /** Updated by the snapshot thread; the schedulers read the copy in their plan. */
    volatile int weight;
    final AtomicInteger active = new AtomicInteger();
    final LongAdder total = new LongAdder();
    final LongAdder bytesToInstance = new LongAdder();
    final LongAdder bytesFromInstance = new LongAdder();
    final LongAdder connectErrors = new LongAdder();
    final LongAdder ejections = new LongAdder();
    /** The open connections (TCP) and flows (UDP) to it. */
    final Set<Link> links = ConcurrentHashMap.newKeySet();
    /** Null when ejection is off. */
    CircuitBreaker breaker;
    /** Skipped by the schedulers while true: its breaker is open and the service's cap allowed it. */
    volatile boolean ejected;
    /** Set once the instance left the plan; cleared if it comes back before the drain ends. */
    volatile boolean draining;
    ScheduledFuture<?> drainDeadline;
    Runnable disposer;

    Backend(String key, String instanceId, InetSocketAddress address, int weight) {
        this.key = key;
        this.instanceId = instanceId;
        this.address = address;
        this.addressBytes = address.getAddress().getAddress();
        this.weight = weight;
    }

    boolean eligible() {
        return !ejected;
    }

    @Override
    public String toString() {
        return instanceId + "@" + address.getAddress().getHostAddress() + ":" + address.getPort();
    }
}
