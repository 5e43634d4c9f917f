package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.Client;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.options.PutOption;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryUnavailableException;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A key held by an etcd lease: an instance's, or a node's announcement (then {@link #instance()} is
 * null). The key is only ever written together with a live lease. Kept alive either by the caller
 * ({@link #keepAliveOnce()} on each heartbeat: registrations through the agent) or by this lease
 * itself ({@link #startKeepAlive()}: the agent's node, a registrant straight to etcd), which does
 * the same every TTL/3 on the registry's thread. Each keep-alive is one call in attempts (see
 * {@link #attempts}), never a long-lived stream: jetcd's keep-alive stream is pinned to one member
 * and, when that member is cut off from us, stays silent until gRPC's keepalive gives up (15 s),
 * longer than a lease lasts. When the lease is gone (expired during an outage, revoked behind our
 * back), a new lease is granted and the key put again.
 */
final class EtcdLease implements Registry.Lease {
    private static final Logger log = LoggerFactory.getLogger(EtcdLease.class);

    private final EtcdRegistry registry;
    private final Instance instance;
    private final int ttlSeconds;
    private final String key;
    private final byte[] value;
    /** How the log names what is held: {@code instance web/a1}, {@code node host1}. */
    private final String what;
    private volatile long leaseId;
    private volatile boolean closed;
    private volatile ScheduledFuture<?> keeper;
    /** Keep-alives by this lease itself that failed in a row (logged at the first and every tenth). */
    private int failed;

    EtcdLease(EtcdRegistry registry, Instance instance, int ttlSeconds) {
        this(registry, instance, registry.layout().instanceKey(instance.service(), instance.id()), JsonCodec.encode(instance),
                "instance " + instance.service() + "/" + instance.id(), ttlSeconds);
    }

    EtcdLease(EtcdRegistry registry, Instance instance, String key, byte[] value, String what, int ttlSeconds) {
        this.registry = registry;
        this.instance = instance;
        this.ttlSeconds = ttlSeconds;
        this.key = key;
        this.value = value;
        this.what = what;
    }

    @Override
    public Instance instance() {
        return instance;
    }

    synchronized void grantAndPut() {
        long id = attempts(c -> c.getLeaseClient().grant(ttlSeconds), "grant lease").getID();
        attempts(c -> c.getKVClient().put(EtcdRegistry.bytes(key),
                io.etcd.jetcd.ByteSequence.from(value),
                PutOption.builder().withLeaseId(id).build()), "put " + key);
        // The key now hangs on the new lease. An old lease, if it still exists, holds nothing and
        // expires with its TTL: revoking it here would only cost a call.
        leaseId = id;
    }

    /** Keeps the lease alive from now on, every TTL/3, until closed or revoked. */
    void startKeepAlive() {
        long every = Math.max(200, ttlSeconds * 1000L / 3);
        keeper = registry.scheduler().scheduleWithFixedDelay(this::keepAliveTick, every, every, TimeUnit.MILLISECONDS);
    }

    private void keepAliveTick() {
        if (closed || registry.isClosed()) {
            return;
        }
        try {
            keepAliveOnce();
            if (failed > 0) {
                log.info("{}: keep-alive works again (lease {}) after {} failed", what, Long.toHexString(leaseId), failed);
            }
            failed = 0;
        } catch (RuntimeException e) {
            if (failed++ % 10 == 0) {
                log.warn("{}: keep-alive failed ({}); trying again every {} ms", what, e.getMessage(), ttlSeconds * 1000L / 3);
            }
        }
    }

    @Override
    public void keepAliveOnce() {
        long id = leaseId;
        LeaseKeepAliveResponse r;
        try {
            r = attempts(c -> c.getLeaseClient().keepAliveOnce(id), "keep-alive " + key);
        } catch (RegistryUnavailableException e) {
            if (!String.valueOf(e.getMessage()).contains("lease not found")) {
                throw e;
            }
            r = null;
        }
        if (r == null || r.getTTL() <= 0) {
            log.info("lease of {} was lost; granting a new one and putting the key again", what);
            grantAndPut();
        }
    }

    /**
     * A lease call within --etcd-timeout, in attempts of a quarter of the TTL (at most half the
     * timeout, at least 500 ms) while time is left. A member cut off from us keeps a connection
     * that looks ready until gRPC's keepalive gives up on it (10 s + 5 s): a call sent there waits
     * for the whole timeout. With a registrant heartbeating every TTL/3, one such keep-alive of 3 s
     * let a 5 s lease expire (the fleet drill 5d: a host cut off made the other hosts' instances
     * vanish). An attempt that times out leaves that member ({@link Members#failed}), so the next
     * one goes to the next member, and so do the watches. "lease not found" is an answer, not a
     * failure: it is not retried.
     */
    private <T> T attempts(Function<Client, CompletableFuture<T>> call, String what) {
        return attempts(registry, ttlSeconds, call, what);
    }

    /** {@link #attempts(Function, String)} for a lease of {@code ttlSeconds} (the host lease's calls too). */
    static <T> T attempts(EtcdRegistry registry, int ttlSeconds, Function<Client, CompletableFuture<T>> call, String what) {
        long total = registry.timeout().toMillis();
        long each = Math.min(total, Math.max(500, Math.min(total / 2, ttlSeconds * 250L)));
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(total);
        RegistryUnavailableException last = null;
        for (int attempt = 1; attempt <= 4; attempt++) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (last != null && left < 50) {
                break;
            }
            long started = System.nanoTime();
            try {
                return registry.call(call, what, Math.max(50, Math.min(each, left)));
            } catch (RegistryUnavailableException e) {
                if (String.valueOf(e.getMessage()).contains("lease not found") || Thread.currentThread().isInterrupted()) {
                    throw e;
                }
                last = e;
                long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
                if (took < each) { // refused at once (no leader, say): a short pause, not a burst
                    try {
                        Thread.sleep(Math.min(100, Math.max(0, left - took)));
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        throw e;
                    }
                }
            }
        }
        throw last;
    }

    @Override
    public void revoke() {
        close();
        registry.call(c -> c.getLeaseClient().revoke(leaseId), "revoke lease of " + key);
    }

    @Override
    public void close() {
        closed = true;
        ScheduledFuture<?> k = keeper;
        if (k != null) {
            k.cancel(false);
        }
    }
}
