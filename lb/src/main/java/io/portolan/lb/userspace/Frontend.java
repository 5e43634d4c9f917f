package io.portolan.lb.userspace;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.netty.channel.Channel;
import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One service port on its VIP: the listening socket, the current plan (a scheduler over the
 * serving instances, rebuilt on every snapshot), and the instances that left the plan but still
 * drain. Plan changes happen on the snapshot thread; picks and connection accounting on event loops.
 */
abstract class Frontend {
    private static final Logger log = LoggerFactory.getLogger(Frontend.class);

    final ProxyContext ctx;
    final InetSocketAddress vip;
    final String service;
    final Port port;
    final Tags tags;
    final AtomicInteger active = new AtomicInteger();
    final Counter refusedMax;
    final Counter refusedNoInstance;
    final Counter refusedConnectFailed;
    private final Meter activeMeter;
    /** Every backend of this port: in the plan or draining. Guarded by {@code this} for changes. */
    private final Map<String, Backend> backends = new ConcurrentHashMap<>();
    private final Map<Backend, List<Meter>> meters = new HashMap<>();
    final Map<InetAddress, SourceHashScheduler.Affinity> affinity = new ConcurrentHashMap<>();
    volatile Scheduler scheduler = new RoundRobinScheduler(List.of());
    volatile boolean proxyProtocol;
    volatile long idleNanos;
    Channel listener;
    private boolean closed;

    Frontend(ProxyContext ctx, InetSocketAddress vip, String service, Port port) {
        this.ctx = ctx;
        this.vip = vip;
        this.service = service;
        this.port = port;
        this.tags = LbMetrics.tags(service, port.number() + "/" + port.protocol().lower());
        this.refusedMax = ctx.metrics.refused(tags, "max_connections");
        this.refusedNoInstance = ctx.metrics.refused(tags, "no_instance");
        this.refusedConnectFailed = ctx.metrics.refused(tags, "connect_failed");
        this.activeMeter = ctx.metrics.serviceActive(tags, active);
    }

    /** Opens the listening socket; throws if the VIP:port cannot be bound. */
    abstract void start();

    /** Brings the plan to the service's serving instances. Called on the snapshot thread. */
    synchronized void apply(Service svc, List<Instance> serving) {
        List<Backend> plan = new ArrayList<>(serving.size());
        Set<String> keep = new HashSet<>();
        for (Instance i : serving) {
            Port ip = i.portFor(port);
            int number;
            if (ip != null) {
                number = ip.number();
            } else if (i.ports().isEmpty()) {
                number = port.number();
            } else {
                continue;
            }
            InetSocketAddress addr = new InetSocketAddress(i.address(), number);
            String key = i.id() + "|" + i.address().getHostAddress() + "|" + number;
            Backend b = backends.get(key);
            if (b == null) {
                b = newBackend(key, i.id(), addr, i.weight());
            } else if (b.draining) {
                revive(b);
            }
            b.weight = i.weight();
            plan.add(b);
            keep.add(key);
        }
        for (Backend b : backends.values()) {
            if (!keep.contains(b.key) && !b.draining) {
                startDrain(b);
            }
        }
        proxyProtocol = ctx.config.proxyProtocolFor(svc.name());
        idleNanos = ctx.config.idleTimeoutFor(svc.name()).toNanos();
        scheduler = Scheduler.create(svc.scheduler(), plan, affinity, ctx.config.affinityTimeout().toNanos());
    }

    /** Adds each backend that has seen traffic, with its counters, to {@code out}. Safe from any thread. */
    void traffic(List<io.portolan.lb.DataPlaneStatus.Traffic> out) {
        String p = port.number() + "/" + port.protocol().lower();
        for (Backend b : backends.values()) {
            long total = b.total.sum();
            int active = b.active.get();
            if (total > 0 || active > 0) {
                out.add(new io.portolan.lb.DataPlaneStatus.Traffic(service, p, b.instanceId, active, total, b.bytesToInstance.sum(),
                        b.bytesFromInstance.sum()));
            }
        }
    }

    private Backend newBackend(String key, String id, InetSocketAddress addr, int weight) {
        Backend b = new Backend(key, id, addr, weight);
        if (ctx.config.eject().enabled()) {
            CircuitBreaker cb = CircuitBreaker.of(service + "/" + port + "/" + id, ctx.breakerConfig);
            cb.getEventPublisher().onStateTransition(e -> onBreakerTransition(b, e.getStateTransition().getToState()));
            b.breaker = cb;
        }
        backends.put(key, b);
        meters.put(b, ctx.metrics.register(b, tags));
        return b;
    }

    private void onBreakerTransition(Backend b, CircuitBreaker.State to) {
        if (to != CircuitBreaker.State.OPEN) {
            b.ejected = false;
            return;
        }
        synchronized (this) {
            List<Backend> plan = scheduler.backends();
            int ejected = 0;
            for (Backend x : plan) {
                if (x.ejected) {
                    ejected++;
                }
            }
            int cap = Math.max(1, (int) Math.floor(ctx.config.eject().maxEjectedFraction() * plan.size()));
            if (ctx.config.eject().maxEjectedFraction() == 0) {
                cap = 0;
            }
            if (ejected < cap) {
                b.ejected = true;
                b.ejections.increment();
                log.info("{} {}: ejected instance {} after failed connects", service, port, b);
                return;
            }
        }
        // Past the cap: the instance stays in rotation; its breaker starts over.
        log.info("{} {}: instance {} failing but not ejected (at most {} of instances at once)", service, port, b,
                ctx.config.eject().maxEjectedFraction());
        ctx.workers.execute(b.breaker::transitionToClosedState);
    }

    private void revive(Backend b) {
        b.draining = false;
        if (b.drainDeadline != null) {
            b.drainDeadline.cancel(false);
            b.drainDeadline = null;
        }
    }

    private void startDrain(Backend b) {
        b.draining = true;
        if (b.active.get() == 0) {
            dispose(b);
            return;
        }
        long nanos = ctx.config.drainTimeout().toNanos();
        b.drainDeadline = ctx.workers.next().schedule(() -> {
            for (Link l : b.links) {
                l.close();
            }
        }, nanos, TimeUnit.NANOSECONDS);
    }

    /** Called when a connection or flow to {@code b} ends: a drained backend goes away with its last one. */
    void released(Backend b) {
        if (b.draining && b.active.get() == 0) {
            synchronized (this) {
                if (b.draining && b.active.get() == 0) {
                    dispose(b);
                }
            }
        }
    }

    private void dispose(Backend b) {
        if (backends.remove(b.key, b)) {
            if (b.drainDeadline != null) {
                b.drainDeadline.cancel(false);
            }
            List<Meter> m = meters.remove(b);
            if (m != null) {
                ctx.metrics.remove(m);
            }
        }
    }

    /** Stops accepting; open connections drain as if every instance had been removed. */
    synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeListeners();
        scheduler = new RoundRobinScheduler(List.of());
        for (Backend b : backends.values()) {
            if (!b.draining) {
                startDrain(b);
            }
        }
        ctx.metrics.remove(List.of(activeMeter, refusedMax, refusedNoInstance, refusedConnectFailed));
    }

    /**
     * Binds {@code b}'s listener to the VIP:port. A failure (the address in use, say) becomes an
     * unchecked exception naming the address: Netty throws the checked bind error undeclared,
     * which would slip past the data plane's per-service catch and abort the whole update.
     */
    Channel bind(io.netty.bootstrap.AbstractBootstrap<?, ?> b) {
        io.netty.channel.ChannelFuture f = b.bind(vip).awaitUninterruptibly();
        if (!f.isSuccess()) {
            throw new IllegalStateException("cannot listen on " + vip.getAddress().getHostAddress() + ":" + vip.getPort()
                    + ": " + f.cause().getMessage(), f.cause());
        }
        return f.channel();
    }

    /** Closes the listening socket(s): no new connection or flow from here on. */
    void closeListeners() {
        if (listener != null) {
            listener.close();
        }
    }

    /** Closes every open connection at once (data plane shutdown). */
    synchronized void closeNow() {
        close();
        for (Backend b : backends.values()) {
            for (Link l : b.links) {
                l.close();
            }
        }
    }

    /** For tests: the open connections (TCP) or flows (UDP). */
    List<Link> openConnections() {
        List<Link> out = new ArrayList<>();
        for (Backend b : backends.values()) {
            out.addAll(b.links);
        }
        return out;
    }

    int backendCount() {
        return backends.size();
    }

    @Override
    public String toString() {
        return service + " " + vip.getAddress().getHostAddress() + ":" + port;
    }
}
