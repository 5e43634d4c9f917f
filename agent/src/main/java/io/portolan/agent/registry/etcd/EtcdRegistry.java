package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.github.resilience4j.circuitbreaker.CircuitBreakerConfig;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.micrometer.tagged.TaggedCircuitBreakerMetrics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.portolan.agent.registry.KvEvent;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryFullException;
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
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * The etcd store, through jetcd. Everything goes through one member at a time, over one connection
 * ({@link Members}): a call that times out or finds the member unavailable leaves it for the next.
 * Reading: {@link PrefixWatch} (a paged listing at revision R, a watch from R+1 with prevKV and
 * require-leader, a re-list after a compaction, a resume on another member after a failure or a
 * silence), the listing behind a resilience4j circuit breaker. Writing: VIPs by transaction
 * (create-if-absent), instances under leases ({@link HostLease}, {@link EtcdLease}). Every call has
 * a timeout: jetcd is built with waitForReady off, so a call to a dead etcd fails instead of hanging.
 */
public final class EtcdRegistry implements Registry {
    private static final Logger log = LoggerFactory.getLogger(EtcdRegistry.class);
    private static final int MAX_ATTEMPTS = 64;

    private final EtcdAccess access;
    private final KeyLayout layout;
    private final Cidr vipCidr;
    private final Duration timeout;
    private final ScheduledExecutorService scheduler;
    private final CircuitBreakerRegistry breakers;
    private final Members members;
    private final MeterRegistry meters;
    private final List<PrefixWatch> watches = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean closed;
    private final List<String> endpoints;
    /** The registry's own watch, once started (its state is the registry's "connected" on the status page). */
    private volatile PrefixWatch registryWatch;
    /** The agent's host lease (its node and the instances registered through it), or null for a registrant's registry. */
    private final HostLease hostLease;
    /** How many nodes the registry lists (spreads re-lists: {@link PrefixWatch#relistDelay}); 0 before start. */
    private volatile java.util.function.IntSupplier fleetSize = () -> 0;
    /** This agent's place among them, by name (its turn to re-list), or -1. */
    private volatile java.util.function.IntSupplier fleetRank = () -> -1;
    /** The node this registry announced, or null. */
    private volatile String nodeName;

    public EtcdRegistry(List<URI> endpoints, KeyLayout layout, Cidr vipCidr, Duration timeout, MeterRegistry meters) {
        this(EtcdAccess.plain(endpoints), layout, vipCidr, timeout, meters);
    }

    /**
     * How the registry builds its jetcd clients (one per member it talks to, one at a time).
     * The agent builds each from {@link EtcdAccess#build}; the fleet simulation
     * ({@code bench/fleetsim}) runs hundreds of agents in one JVM and gives their clients one shared
     * executor and event loops, each client still with its own connection.
     */
    @FunctionalInterface
    public interface Clients {
        Client build(EtcdAccess access, Duration timeout);
    }

    /** @param access the endpoints, and TLS and the etcd user when etcd asks for them */
    public EtcdRegistry(EtcdAccess access, KeyLayout layout, Cidr vipCidr, Duration timeout, MeterRegistry meters) {
        this(access, layout, vipCidr, timeout, meters, null, EtcdAccess::build);
    }

    /**
     * An agent's registry: instances registered through it ({@link #hold}) and its node hang on one host lease
     * ({@link HostLease}), kept with the instances it holds in {@code stateDir}.
     *
     * @param stateDir where the host lease is kept ({@value HostLease#FILE}), or null for a registrant's registry
     *                 (no host lease: {@link #hold} and {@link #announce} use a lease each)
     */
    public EtcdRegistry(EtcdAccess access, KeyLayout layout, Cidr vipCidr, Duration timeout, MeterRegistry meters,
                        java.nio.file.Path stateDir) {
        this(access, layout, vipCidr, timeout, meters, stateDir, EtcdAccess::build);
    }

    /** {@link #EtcdRegistry(EtcdAccess, KeyLayout, Cidr, Duration, MeterRegistry)} with clients built by {@code clients} (no host lease). */
    public EtcdRegistry(EtcdAccess access, KeyLayout layout, Cidr vipCidr, Duration timeout, MeterRegistry meters, Clients clients) {
        this(access, layout, vipCidr, timeout, meters, null, clients);
    }

    /** The agent's registry with {@code stateDir} (or null) and clients built by {@code clients}. */
    public EtcdRegistry(EtcdAccess access, KeyLayout layout, Cidr vipCidr, Duration timeout, MeterRegistry meters,
                        java.nio.file.Path stateDir, Clients clients) {
        this.access = access;
        this.layout = layout;
        this.endpoints = access.endpoints().stream().map(URI::toString).toList();
        this.vipCidr = vipCidr;
        this.timeout = timeout;
        this.meters = meters;
        this.members = new Members(access.endpoints(), e -> clients.build(access.only(e), timeout), access.firstMember());
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "etcd-registry");
            t.setDaemon(true);
            return t;
        });
        this.breakers = CircuitBreakerRegistry.of(CircuitBreakerConfig.custom()
                .slidingWindowType(CircuitBreakerConfig.SlidingWindowType.COUNT_BASED)
                .slidingWindowSize(4)
                .minimumNumberOfCalls(2)
                .failureRateThreshold(50)
                .waitDurationInOpenState(Duration.ofSeconds(2))
                .permittedNumberOfCallsInHalfOpenState(1)
                .build());
        TaggedCircuitBreakerMetrics.ofCircuitBreakerRegistry(breakers).bindTo(meters);
        if (stateDir != null) {
            try {
                this.hostLease = new HostLease(this, stateDir);
            } catch (RuntimeException e) {
                close();
                throw e;
            }
            io.micrometer.core.instrument.Gauge.builder("portolan_host_lease_instances", hostLease, HostLease::heldCount)
                    .description("instances held under this agent's host lease").register(meters);
            io.micrometer.core.instrument.FunctionCounter.builder("portolan_host_lease_expired", hostLease, HostLease::expired)
                    .description("held instances deleted because their registrant's heartbeats stopped").register(meters);
            io.micrometer.core.instrument.FunctionCounter.builder("portolan_host_lease_grants", hostLease, HostLease::leasesGranted)
                    .description("host leases granted (at first, and each time one was lost)").register(meters);
        } else {
            this.hostLease = null;
        }
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
        PrefixWatch w = registryWatch;
        return w != null && w.connected() && !closed;
    }

    /**
     * Asks etcd, before the agent starts anything else, whether it lets this client in: read and write
     * under the prefix, read under each of {@code readPrefixes} (an importer's).
     *
     * @return false when etcd could not be reached (an outage, not a refusal: the agent starts and retries)
     * @throws EtcdRefusedException when TLS, the user or its role refused, in one line naming what
     */
    public boolean checkAccess(List<String> readPrefixes) {
        // every member in turn while they cannot be reached: the first one listed may be the one down
        for (int tried = 0; tried < access.endpoints().size(); tried++) {
            Members.Member m = members.current();
            if (AccessCheck.run(m.client().getKVClient(), access, layout.prefix(), readPrefixes, timeout.toMillis())
                    == AccessCheck.Outcome.ALLOWED) {
                m.heard();
                return true;
            }
            Members.Member now = members.failed(m, "the access check could not reach it");
            if (now == m) {
                break;
            }
        }
        return false;
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
        fleetSize = target::nodeCount;
        fleetRank = () -> target.nodeRank(nodeName);
        PrefixWatch.Sink sink = new PrefixWatch.Sink() {
            @Override
            public void reset(Map<String, byte[]> listing, long revision) {
                target.reset(listing, revision);
            }

            @Override
            public void apply(List<KvEvent> events, long revision) {
                target.apply(events, revision);
            }
        };
        registryWatch = startWatch(new PrefixWatch(this, members, "registry", layout.prefix(), sink,
                PrefixWatch.Meters.of(meters, "portolan_etcd_", "the registry's", Tags.empty()), breakers.circuitBreaker("etcd-relist")));
    }

    static byte[] prefixEnd(String prefix) {
        byte[] b = prefix.getBytes(StandardCharsets.UTF_8);
        byte[] end = java.util.Arrays.copyOf(b, b.length);
        end[end.length - 1]++;
        return end;
    }

    // ---- imported prefixes (an importer's keys in this etcd: Dubbo's) ----------------------

    /**
     * Starts the same never-miss-an-event watch as the registry's own on another prefix of this etcd,
     * feeding {@code sink} (reads only; closing the returned watch stops it).
     */
    public PrefixWatch watchPrefix(String name, String prefix, PrefixWatch.Sink sink, MeterRegistry meters) {
        return startWatch(new PrefixWatch(this, members, name, prefix, sink,
                PrefixWatch.Meters.of(meters, "portolan_import_", "imported", Tags.of("prefix", prefix)),
                breakers.circuitBreaker("etcd-relist-" + name)));
    }

    private PrefixWatch startWatch(PrefixWatch w) {
        if (closed) {
            throw new IllegalStateException("the etcd registry is closed");
        }
        watches.add(w);
        w.start();
        return w;
    }

    // ---- writing ------------------------------------------------------------------------

    @Override
    public Service ensureService(Service wanted) {
        String svcKey = layout.serviceKey(wanted.name());
        long probe = 0;
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            GetResponse got = call(c -> c.getKVClient().get(bytes(svcKey)), "get " + svcKey);
            if (!got.getKvs().isEmpty()) {
                KeyValue stored = got.getKvs().get(0);
                Service existing = decodeStoredService(svcKey, stored);
                Service merged = Services.merge(existing, wanted);
                if (merged == existing) {
                    return existing;
                }
                TxnResponse r = call(c -> c.getKVClient().txn()
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
                TxnResponse r = call(c -> c.getKVClient().txn()
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
            TxnResponse r = call(c -> c.getKVClient().txn()
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
            String k = ownerKey;
            GetResponse og = call(c -> c.getKVClient().get(bytes(k)), "get " + k);
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
        TxnResponse r = call(c -> c.getKVClient().txn()
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
    public Lease register(Instance instance, int ttlSeconds, boolean keepsItselfAlive) {
        EtcdLease lease = new EtcdLease(this, instance, ttlSeconds);
        lease.grantAndPut();
        if (keepsItselfAlive) {
            lease.startKeepAlive();
        }
        return lease;
    }

    @Override
    public Lease hold(Instance instance, int ttlSeconds, java.net.InetAddress registrant) {
        if (hostLease == null) {
            return register(instance, ttlSeconds, false);
        }
        return hostLease.hold(instance, ttlSeconds, registrant);
    }

    @Override
    public List<Lease> held() {
        return hostLease == null ? List.of() : hostLease.keptAtStart();
    }

    /** The host lease's id now (0 before the first grant), or -1 without one (tests). */
    public long hostLeaseId() {
        return hostLease == null ? -1 : hostLease.leaseId();
    }

    /** A node's lease: short, so that a crashed agent's node leaves the others' snapshots soon. */
    static final int NODE_TTL_SECONDS = 10;

    @Override
    public Lease announce(Node node) {
        nodeName = node.name();
        if (hostLease != null) {
            return hostLease.announce(node);
        }
        EtcdLease lease = new EtcdLease(this, null, layout.nodeKey(node.name()), JsonCodec.encode(node), "node " + node.name(),
                NODE_TTL_SECONDS);
        lease.grantAndPut();
        lease.startKeepAlive();
        return lease;
    }

    @Override
    public boolean setHealth(String service, String id, Health health, String reason) {
        String key = layout.instanceKey(service, id);
        GetResponse got = call(c -> c.getKVClient().get(bytes(key)), "get " + key);
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
        TxnResponse r = call(c -> c.getKVClient().txn()
                .If(new Cmp(bytes(key), Cmp.Op.EQUAL, CmpTarget.modRevision(stored.getModRevision())))
                .Then(Op.put(bytes(key), ByteSequence.from(JsonCodec.encode(next)),
                        stored.getLease() == 0 ? PutOption.DEFAULT : PutOption.builder().withLeaseId(stored.getLease()).build()))
                .commit(), "health of " + key);
        return r.isSucceeded();
    }

    @Override
    public boolean deregister(String service, String id) {
        String key = layout.instanceKey(service, id);
        if (hostLease != null) {
            hostLease.forget(key);
        }
        return call(c -> c.getKVClient().delete(bytes(key)), "delete " + key).getDeleted() > 0;
    }

    @Override
    public boolean deleteService(String name) {
        String svcKey = layout.serviceKey(name);
        if (hostLease != null) {
            hostLease.forgetUnder(layout.instancesPrefix(name));
        }
        for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            GetResponse got = call(c -> c.getKVClient().get(bytes(svcKey)), "get " + svcKey);
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
            Cmp owned = vipOwned;
            TxnResponse r = call(c -> (owned == null ? c.getKVClient().txn().If(same) : c.getKVClient().txn().If(same, owned))
                    .Then(ops.toArray(new Op[0])).commit(), "delete " + svcKey);
            if (r.isSucceeded()) {
                return true;
            }
            if (vipOwned != null) {
                // The VIP key no longer names this service; delete the service without touching it.
                TxnResponse r2 = call(c -> c.getKVClient().txn().If(same).Then(ops.get(0), ops.get(1)).commit(), "delete " + svcKey);
                if (r2.isSucceeded()) {
                    return true;
                }
            }
        }
        throw new RegistryUnavailableException("could not delete service '" + name + "' under contention", null);
    }

    // ---- plumbing -----------------------------------------------------------------------

    KeyLayout layout() {
        return layout;
    }

    Duration timeout() {
        return timeout;
    }

    ScheduledExecutorService scheduler() {
        return scheduler;
    }

    int fleetSize() {
        return fleetSize.getAsInt();
    }

    int fleetRank() {
        return fleetRank.getAsInt();
    }

    boolean isClosed() {
        return closed;
    }

    /**
     * Makes an etcd call through the current member and waits for it within the timeout, turning
     * every failure into one exception type. A call that timed out, or that the member could not
     * serve (unavailable, no leader), leaves that member for the next ({@link Members#failed}).
     */
    <T> T call(Function<Client, CompletableFuture<T>> op, String what) {
        return call(op, what, timeout.toMillis());
    }

    /** {@link #call(Function, String)} with a bound of its own (at most the timeout: see {@link EtcdLease}). */
    <T> T call(Function<Client, CompletableFuture<T>> op, String what, long timeoutMillis) {
        Members.Member m = members.current();
        CompletableFuture<T> f = op.apply(m.client());
        try {
            T answer = f.get(timeoutMillis, TimeUnit.MILLISECONDS);
            m.heard();
            return answer;
        } catch (TimeoutException e) {
            f.cancel(true);
            suspect(m, "no answer to '" + what + "' within " + timeoutMillis + " ms");
            throw new RegistryUnavailableException("etcd did not answer '" + what + "' within " + timeoutMillis + " ms", e);
        } catch (ExecutionException e) {
            String said = String.valueOf(e.getCause() == null ? null : e.getCause().getMessage());
            if (said.contains("database space exceeded")) {
                m.heard();
                throw new RegistryFullException("etcd refused '" + what + "': " + said + " (etcd's backend is over its"
                        + " --quota-backend-bytes and refuses writes and new leases until space is freed: etcdctl compact, etcdctl defrag,"
                        + " then etcdctl alarm disarm)", e.getCause());
            }
            if (memberFailure(e.getCause())) {
                if (answeredByEtcd(said)) {
                    suspect(m, "'" + what + "' failed: " + said); // etcd answered: it cannot serve it (no leader...)
                } else {
                    leave(m, "'" + what + "' failed: " + said); // no answer: refused, reset, closed
                }
            } else {
                m.heard(); // an answer (lease not found, permission denied...): the member is there
            }
            throw new RegistryUnavailableException("etcd call '" + what + "' failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableException("interrupted during '" + what + "'", e);
        }
    }

    private void leave(Members.Member m, String why) {
        try {
            members.failed(m, why);
        } catch (IllegalStateException closing) {
            // the registry is closing
        }
    }

    private void suspect(Members.Member m, String why) {
        try {
            members.suspect(m, why);
        } catch (IllegalStateException closing) {
            // the registry is closing
        }
    }

    /**
     * Whether a failed call says the member could not serve it (unreachable, timed out, no leader,
     * closed under the call), rather than answering it (a refusal, a missing lease, a bad request).
     */
    static boolean memberFailure(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof EtcdException ee) {
                return switch (ee.getErrorCode()) {
                    case UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN, INTERNAL, ABORTED -> true;
                    default -> false;
                };
            }
            if (c instanceof io.grpc.StatusRuntimeException s) {
                return switch (s.getStatus().getCode()) {
                    case UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN, INTERNAL, ABORTED -> true;
                    default -> false;
                };
            }
            if (c instanceof java.io.IOException) {
                return true;
            }
        }
        return false;
    }

    /** Whether a failure's message is etcd's own answer ("etcdserver: no leader"): the member is there, it could not serve. */
    static boolean answeredByEtcd(String message) {
        return message != null && (message.startsWith("etcdserver:") || message.contains(": etcdserver:"));
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
        if (hostLease != null) {
            hostLease.close();
        }
        watches.forEach(PrefixWatch::close);
        members.close();
        scheduler.shutdownNow();
    }
}
