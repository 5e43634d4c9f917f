package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.agent.registry.KvEvent;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.RegistryUnavailableException;
import io.portolan.agent.registry.Services;
import io.portolan.proto.Cidr;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Node;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Mode;
import io.portolan.proto.Service;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The etcd store, through jetcd. Reading: a full get at revision R, then a watch from R+1 with
 * prevKV, progress notifications and require-leader; a compaction or a closed watch leads to a
 * re-list diffed against the state (so no delete is missed), retried with exponential backoff
 * behind a resilience4j circuit breaker. Writing: VIPs by transaction (create-if-absent), instances
 * under leases. Every call has a timeout: jetcd is built with waitForReady off, so a call to a
 * dead etcd fails instead of hanging.
 */
public final class EtcdRegistry implements Registry {
    private static final Logger log = LoggerFactory.getLogger(EtcdRegistry.class);
    private static final int MAX_ATTEMPTS = 64;
    private static final int PAGE = 2_000;

    private final EtcdAccess access;
    private final Client client;
    private final KV kv;
    private final KeyLayout layout;
    private final Cidr vipCidr;
    private final Duration timeout;
    private final ByteSequence prefix;
    private final ScheduledExecutorService scheduler;
    private final CircuitBreaker relistBreaker;
    private final IntervalFunction backoff = IntervalFunction.ofExponentialRandomBackoff(200, 2.0, 0.3, 10_000);
    private final AtomicInteger failures = new AtomicInteger();
    private final Counter watchRestarts;
    private final Counter compactions;

    private volatile RegistryState state;
    private volatile Watch.Watcher watcher;
    private volatile long lastRevision;
    private volatile boolean closed;
    private final List<String> endpoints;
    /** The last listing succeeded and the watch has not failed since (for the status page). */
    private volatile boolean connected;
    /** Bumped on every (re)subscription so that callbacks of an abandoned watcher are ignored. */
    private final AtomicInteger generation = new AtomicInteger();

    public EtcdRegistry(List<URI> endpoints, KeyLayout layout, Cidr vipCidr, Duration timeout, MeterRegistry meters) {
        this(EtcdAccess.plain(endpoints), layout, vipCidr, timeout, meters);
    }

    /** @param access the endpoints, and TLS and the etcd user when etcd asks for them */
    public EtcdRegistry(EtcdAccess access, KeyLayout layout, Cidr vipCidr, Duration timeout, MeterRegistry meters) {
        this.access = access;
        this.layout = layout;
        this.endpoints = access.endpoints().stream().map(URI::toString).toList();
        this.vipCidr = vipCidr;
        this.timeout = timeout;
        this.prefix = bytes(layout.prefix());
        this.client = access.build(timeout);
        this.kv = client.getKVClient();
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "etcd-registry");
            t.setDaemon(true);
            return t;
        });
        CircuitBreakerRegistry breakers = CircuitBreakerRegistry.of(CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(4)
                .minimumNumberOfCalls(2)
                .failureRateThreshold(50)
                .waitDurationInOpenState(Duration.ofSeconds(2))
                .permittedNumberOfCallsInHalfOpenState(1)
                .build());
        this.relistBreaker = breakers.circuitBreaker("etcd-relist");
        TaggedCircuitBreakerMetrics.ofCircuitBreakerRegistry(breakers).bindTo(meters);
        this.watchRestarts = Counter.builder("portolan_etcd_watch_restarts").description("watches resumed after a close").register(meters);
        this.compactions = Counter.builder("portolan_etcd_compactions").description("watches that hit a compacted revision").register(meters);
    }

    @Override
    public String kind() {
        return "etcd";
    }

    @Override
    public List<String> endpoints() {
        return endpoints;
    }

    @Override
    public boolean connected() {
        return connected && !closed;
    }

    /**
     * Asks etcd, before the agent starts anything else, whether it lets this client in: read and write
     * under the prefix, read under each of {@code readPrefixes} (an importer's).
     *
     * @return false when etcd could not be reached (an outage, not a refusal: the agent starts and retries)
     * @throws EtcdRefusedException when TLS, the user or its role refused, in one line naming what
     */
    public boolean checkAccess(List<String> readPrefixes) {
        return AccessCheck.run(kv, access, layout.prefix(), readPrefixes, timeout.toMillis()) == AccessCheck.Outcome.ALLOWED;
    }

    /** {@link #checkAccess} for a command that needs etcd now: unreachable is an error too. */
    public void requireAccess() {
        if (!checkAccess(List.of())) {
            throw new RegistryUnavailableException("cannot reach etcd at " + access.endpoints() + " within " + timeout.toMillis() + " ms", null);
        }
    }

    public EtcdAccess access() {
        return access;
    }

    // ---- reading ------------------------------------------------------------------------

    @Override
    public void start(RegistryState target) {
        this.state = target;
        scheduler.execute(this::relist);
    }

    private void relist() {
        if (closed) {
            return;
        }
        try {
            Listing listing = relistBreaker.executeCallable(this::list);
            long rev = listing.revision();
            state.reset(listing.values(), rev);
            lastRevision = rev;
            failures.set(0);
            connected = true;
            subscribe(rev + 1);
        } catch (Exception e) {
            connected = false;
            long wait = backoff.apply(Math.min(failures.incrementAndGet(), 20));
            log.warn("listing {} failed ({}); keeping the last snapshot, retrying in {} ms", layout.prefix(), e.toString(), wait);
            schedule(this::relist, wait);
        }
    }

    private record Listing(Map<String, byte[]> values, long revision) {
    }

    /**
     * The whole prefix at one revision, in pages of {@value #PAGE} keys (a single range over 100k
     * keys would exceed gRPC's message limit): the first page fixes the revision, the others read
     * at that same revision, so the listing is one consistent cut.
     */
    private Listing list() {
        ByteSequence end = ByteSequence.from(prefixEnd(layout.prefix()));
        Map<String, byte[]> values = new HashMap<>();
        ByteSequence from = prefix;
        long revision = 0;
        while (true) {
            GetOption.Builder opt = GetOption.builder().withRange(end).withLimit(PAGE);
            if (revision != 0) {
                opt.withRevision(revision);
            }
            GetResponse r = call(kv.get(from, opt.build()), "list " + layout.prefix());
            if (revision == 0) {
                revision = r.getHeader().getRevision();
            }
            KeyValue last = null;
            for (KeyValue kvp : r.getKvs()) {
                values.put(string(kvp.getKey()), kvp.getValue().getBytes());
                last = kvp;
            }
            if (!r.isMore() || last == null) {
                return new Listing(values, revision);
            }
            byte[] k = last.getKey().getBytes();
            byte[] next = java.util.Arrays.copyOf(k, k.length + 1); // the smallest key after `last`
            from = ByteSequence.from(next);
        }
    }

    static byte[] prefixEnd(String prefix) {
        byte[] b = prefix.getBytes(StandardCharsets.UTF_8);
        byte[] end = java.util.Arrays.copyOf(b, b.length);
        end[end.length - 1]++;
        return end;
    }

    private void subscribe(long fromRevision) {
        if (closed) {
            return;
        }
        int gen = generation.incrementAndGet();
        Watch.Watcher old = watcher;
        if (old != null) {
            old.close();
        }
        WatchOption option = WatchOption.builder()
                .isPrefix(true)
                .withRevision(fromRevision)
                .withPrevKV(true)
                .withProgressNotify(true)
                .withRequireLeader(true)
                .build();
        watcher = client.getWatchClient().watch(prefix, option, Watch.listener(
                r -> onWatch(gen, r), t -> onWatchError(gen, t), () -> onWatchClosed(gen)));
        log.debug("watching {} from revision {}", layout.prefix(), fromRevision);
    }

    private void onWatch(int gen, WatchResponse r) {
        if (gen != generation.get()) {
            return;
        }
        failures.set(0);
        connected = true;
        long rev = r.getHeader().getRevision();
        List<WatchEvent> events = r.getEvents();
        if (events.isEmpty()) {
            if (rev > 0) {
                lastRevision = Math.max(lastRevision, rev);
                state.progress(rev);
            }
            return;
        }
        List<KvEvent> batch = new ArrayList<>(events.size());
        long maxMod = 0;
        for (WatchEvent e : events) {
            KeyValue kvp = e.getKeyValue();
            long mod = kvp.getModRevision();
            maxMod = Math.max(maxMod, mod);
            String key = string(kvp.getKey());
            batch.add(e.getEventType() == WatchEvent.EventType.DELETE
                    ? new KvEvent(key, null, mod)
                    : new KvEvent(key, kvp.getValue().getBytes(), mod));
        }
        // A watch response's header revision may run ahead of its events when the response is one
        // fragment of a larger batch; only the events' own revision is known to be complete.
        long seen = Math.max(maxMod, lastRevision);
        lastRevision = seen;
        state.apply(batch, seen);
    }

    private void onWatchError(int gen, Throwable t) {
        if (gen != generation.get() || closed) {
            return;
        }
        Throwable cause = t;
        while (cause != null && !(cause instanceof CompactedException)) {
            cause = cause.getCause();
        }
        if (cause != null) {
            compactions.increment();
            log.warn("watch fell behind a compaction (last seen revision {}); re-listing and diffing", lastRevision);
            generation.incrementAndGet();
            scheduler.execute(this::relist);
            return;
        }
        connected = false;
        watchRestarts.increment();
        long wait = backoff.apply(Math.min(failures.incrementAndGet(), 20));
        log.warn("watch failed ({}); resuming from revision {} in {} ms", t.toString(), lastRevision + 1, wait);
        generation.incrementAndGet();
        schedule(() -> subscribe(lastRevision + 1), wait);
    }

    private void onWatchClosed(int gen) {
        if (gen != generation.get() || closed) {
            return;
        }
        watchRestarts.increment();
        log.info("watch closed by the client; resuming from revision {}", lastRevision + 1);
        generation.incrementAndGet();
        schedule(() -> subscribe(lastRevision + 1), 100);
    }

    private void schedule(Runnable r, long millis) {
        if (!closed) {
            try {
                scheduler.schedule(r, millis, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException ignored) {
                // closing
            }
        }
    }

    // ---- imported prefixes (an importer's keys in this etcd: Dubbo's) ----------------------

    /**
     * Starts the same never-miss-an-event watch as the registry's own on another prefix of this etcd,
     * feeding {@code sink} (reads only; closing the returned watch stops it).
     */
    public PrefixWatch watchPrefix(String name, String prefix, PrefixWatch.Sink sink, MeterRegistry meters) {
        PrefixWatch w = new PrefixWatch(this, name, prefix, sink, meters);
        w.start();
        return w;
    }

    // ---- writing ------------------------------------------------------------------------

    @Override
    public Service ensureService(Service wanted) {
        String svcKey = layout.serviceKey(wanted.name());
        long probe = 0;
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            GetResponse got = call(kv.get(bytes(svcKey)), "get " + svcKey);
            if (!got.getKvs().isEmpty()) {
                KeyValue stored = got.getKvs().get(0);
                Service existing = decodeStoredService(svcKey, stored);
                Service merged = Services.merge(existing, wanted);
                if (merged == existing) {
                    return existing;
                }
                TxnResponse r = call(kv.txn()
                        .If(new Cmp(bytes(svcKey), Cmp.Op.EQUAL, CmpTarget.modRevision(stored.getModRevision())))
                        .Then(Op.put(bytes(svcKey), ByteSequence.from(JsonCodec.encode(merged)), PutOption.DEFAULT))
                        .commit(), "update " + svcKey);
                if (r.isSucceeded()) {
                    return merged;
                }
                continue;
            }
            if (wanted.mode() == Mode.DNSRR) {
                Service s = wanted.withVip(null);
                TxnResponse r = call(kv.txn()
                        .If(absent(svcKey))
                        .Then(Op.put(bytes(svcKey), ByteSequence.from(JsonCodec.encode(s)), PutOption.DEFAULT))
                        .commit(), "create " + svcKey);
                if (r.isSucceeded()) {
                    return s;
                }
                continue;
            }
            if (probe >= Math.min(vipCidr.usable(), 100_000)) {
                throw new ValidationException("vip-cidr", vipCidr.toString(), "no free VIP left for service '" + wanted.name() + "'");
            }
            InetAddress vip = vipCidr.candidate(wanted.name(), probe);
            String vipKey = layout.vipKey(vip);
            Service s = wanted.withVip(vip);
            TxnResponse r = call(kv.txn()
                    .If(absent(svcKey), absent(vipKey))
                    .Then(Op.put(bytes(vipKey), bytes(wanted.name()), PutOption.DEFAULT),
                            Op.put(bytes(svcKey), ByteSequence.from(JsonCodec.encode(s)), PutOption.DEFAULT))
                    .Else(Op.get(bytes(vipKey), GetOption.DEFAULT))
                    .commit(), "allocate " + vipKey + " for " + svcKey);
            if (r.isSucceeded()) {
                log.info("allocated VIP {} to service {}", vip.getHostAddress(), wanted.name());
                return s;
            }
            List<GetResponse> gets = r.getGetResponses();
            if (!gets.isEmpty() && !gets.get(0).getKvs().isEmpty()) {
                KeyValue owner = gets.get(0).getKvs().get(0);
                if (reclaimIfStale(owner, vip, s, svcKey, vipKey)) {
                    return s;
                }
                probe++;
            }
            // else: the service appeared meanwhile; loop and read it
        }
        throw new RegistryUnavailableException("could not settle service '" + wanted.name() + "' after " + MAX_ATTEMPTS
                + " attempts (heavy contention?)", null);
    }

    /** A VIP key whose owner no longer holds that VIP (deleted by hand, say) is taken over atomically. */
    private boolean reclaimIfStale(KeyValue owner, InetAddress vip, Service s, String svcKey, String vipKey) {
        String ownerName = string(owner.getValue());
        String ownerKey;
        try {
            ownerKey = layout.serviceKey(ownerName);
        } catch (ValidationException e) {
            ownerKey = null;
        }
        Cmp ownerCheck;
        if (ownerKey != null) {
            GetResponse og = call(kv.get(bytes(ownerKey)), "get " + ownerKey);
            if (!og.getKvs().isEmpty()) {
                KeyValue o = og.getKvs().get(0);
                Service os;
                try {
                    os = JsonCodec.decodeService(o.getValue().getBytes());
                } catch (ValidationException e) {
                    return false; // unreadable owner: leave its VIP alone
                }
                if (vip.equals(os.vip())) {
                    return false; // really taken
                }
                ownerCheck = new Cmp(bytes(ownerKey), Cmp.Op.EQUAL, CmpTarget.modRevision(o.getModRevision()));
            } else {
                ownerCheck = absent(ownerKey);
            }
        } else {
            ownerCheck = new Cmp(bytes(vipKey), Cmp.Op.EQUAL, CmpTarget.modRevision(owner.getModRevision()));
        }
        TxnResponse r = call(kv.txn()
                .If(new Cmp(bytes(vipKey), Cmp.Op.EQUAL, CmpTarget.modRevision(owner.getModRevision())), ownerCheck, absent(svcKey))
                .Then(Op.put(bytes(vipKey), bytes(s.name()), PutOption.DEFAULT),
                        Op.put(bytes(svcKey), ByteSequence.from(JsonCodec.encode(s)), PutOption.DEFAULT))
                .commit(), "reclaim " + vipKey);
        if (r.isSucceeded()) {
            log.info("reclaimed stale VIP {} (held by missing service '{}') for service {}", vip.getHostAddress(), ownerName, s.name());
        }
        return r.isSucceeded();
    }

    private Service decodeStoredService(String key, KeyValue stored) {
        try {
            return JsonCodec.decodeService(stored.getValue().getBytes());
        } catch (ValidationException e) {
            throw new ValidationException("service", key, "the stored definition does not parse (" + e.getMessage()
                    + "); fix or delete the key");
        }
    }

    @Override
    public Lease register(Instance instance, int ttlSeconds, boolean keepAliveStream) {
        EtcdLease lease = new EtcdLease(this, instance, ttlSeconds);
        lease.grantAndPut();
        if (keepAliveStream) {
            lease.startStream();
        }
        return lease;
    }

    /** A node's lease: short, so that a crashed agent's node leaves the others' snapshots soon. */
    static final int NODE_TTL_SECONDS = 10;

    @Override
    public Lease announce(Node node) {
        EtcdLease lease = new EtcdLease(this, null, layout.nodeKey(node.name()), JsonCodec.encode(node), "node " + node.name(),
                NODE_TTL_SECONDS);
        lease.grantAndPut();
        lease.startStream();
        return lease;
    }

    @Override
    public boolean setHealth(String service, String id, Health health, String reason) {
        String key = layout.instanceKey(service, id);
        GetResponse got = call(kv.get(bytes(key)), "get " + key);
        if (got.getKvs().isEmpty()) {
            return false;
        }
        KeyValue stored = got.getKvs().get(0);
        Instance now = JsonCodec.decodeInstance(stored.getValue().getBytes());
        Instance next = now.withHealth(health, reason);
        if (next.equals(now)) {
            return true;
        }
        // the same lease (a put without one would detach the key from its registrant's lease), and only
        // if nobody wrote the key since it was read
        TxnResponse r = call(kv.txn()
                .If(new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(stored.getModRevision())))
                .Then(Op.put(bytes(key), ByteSequence.from(JsonCodec.encode(next)),
                        stored.getLease() == 0 ? PutOption.DEFAULT : PutOption.builder().withLeaseId(stored.getLease()).build()))
                .commit(), "health of " + key);
        return r.isSucceeded();
    }

    @Override
    public boolean deregister(String service, String id) {
        String key = layout.instanceKey(service, id);
        return call(kv.delete(bytes(key)), "delete " + key).getDeleted() > 0;
    }

    @Override
    public boolean deleteService(String name) {
        String svcKey = layout.serviceKey(name);
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            GetResponse got = call(kv.get(bytes(svcKey)), "get " + svcKey);
            if (got.getKvs().isEmpty()) {
                return false;
            }
            KeyValue stored = got.getKvs().get(0);
            List<Op> ops = new ArrayList<>();
            ops.add(Op.delete(bytes(svcKey), DeleteOption.DEFAULT));
            ops.add(Op.delete(bytes(layout.instancesPrefix(name)), DeleteOption.builder().isPrefix(true).build()));
            Cmp vipOwned = null;
            try {
                Service s = JsonCodec.decodeService(stored.getValue().getBytes());
                if (s.vip() != null) {
                    String vipKey = layout.vipKey(s.vip());
                    ops.add(Op.delete(bytes(vipKey), DeleteOption.DEFAULT));
                    vipOwned = new Cmp(bytes(vipKey), Cmp.Op.EQUAL, CmpTarget.value(bytes(name)));
                }
            } catch (ValidationException e) {
                log.warn("deleting service {} whose stored value does not parse: {}", name, e.getMessage());
            }
            Cmp same = new Cmp(bytes(svcKey), Cmp.Op.EQUAL, CmpTarget.modRevision(stored.getModRevision()));
            TxnResponse r = call((vipOwned == null ? kv.txn().If(same) : kv.txn().If(same, vipOwned))
                    .Then(ops.toArray(new Op[0])).commit(), "delete " + svcKey);
            if (r.isSucceeded()) {
                return true;
            }
            if (vipOwned != null) {
                // The VIP key no longer names this service; delete the service without touching it.
                TxnResponse r2 = call(kv.txn().If(same).Then(ops.get(0), ops.get(1)).commit(), "delete " + svcKey);
                if (r2.isSucceeded()) {
                    return true;
                }
            }
        }
        throw new RegistryUnavailableException("could not delete service '" + name + "' under contention", null);
    }

    // ---- plumbing -----------------------------------------------------------------------

    Client client() {
        return client;
    }

    KeyLayout layout() {
        return layout;
    }

    Duration timeout() {
        return timeout;
    }

    ScheduledExecutorService scheduler() {
        return scheduler;
    }

    boolean isClosed() {
        return closed;
    }

    IntervalFunction backoff() {
        return backoff;
    }

    /** Waits for an etcd call within the timeout, turning every failure into one exception type. */
    <T> T call(CompletableFuture<T> f, String what) {
        return call(f, what, timeout.toMillis());
    }

    /** {@link #call(CompletableFuture, String)} with a bound of its own (at most the timeout: see {@link EtcdLease}). */
    <T> T call(CompletableFuture<T> f, String what, long timeoutMillis) {
        try {
            return f.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new RegistryUnavailableException("etcd did not answer '" + what + "' within " + timeoutMillis + " ms", e);
        } catch (ExecutionException e) {
            throw new RegistryUnavailableException("etcd call '" + what + "' failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableException("interrupted during '" + what + "'", e);
        }
    }

    private static Cmp absent(String key) {
        return new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.createRevision(0));
    }

    static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    static String string(ByteSequence b) {
        return b.toString(StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        closed = true;
        generation.incrementAndGet();
        Watch.Watcher w = watcher;
        if (w != null) {
            w.close();
        }
        scheduler.shutdownNow();
        client.close();
    }
}
