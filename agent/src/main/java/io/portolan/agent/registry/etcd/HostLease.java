package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.lease.LeaseTimeToLiveResponse;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.LeaseOption;
import io.etcd.jetcd.options.PutOption;
import io.portolan.agent.registry.Deadlines;
import io.portolan.agent.registry.Journal;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryUnavailableException;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Node;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The agent's one etcd lease, the <em>host lease</em>: its node's key ({@code nodes/NAME}) and every
 * instance registered through this agent hang on it, so etcd sees one renewal per TTL/3 from this host
 * whatever the number of instances. An instance's own TTL is a local deadline ({@link Deadlines}): a
 * heartbeat moves it in memory and sends nothing to etcd; when it passes, this agent deletes the key
 * itself (batched, on the {@code host-lease-expiry} thread). A deregistration deletes the key.
 *
 * <p>The lease's TTL is the smallest of {@value #MAX_TTL_SECONDS} s and every held instance's TTL, so a
 * host that dies or is cut off loses its instances within their TTL, as when each had a lease of its own;
 * an instance with a shorter TTL than the lease's moves every key to a new, shorter lease (rare: the TTL
 * only shrinks). It is renewed every TTL/3 by single calls in attempts on the next member
 * ({@link EtcdLease#attempts}), never a stream.
 *
 * <p>Kept in the state directory ({@value #FILE}, a {@link Journal}): the lease id and TTL, and each held
 * instance (its value, TTL and the address it was registered from), one line per registration or removal,
 * nothing per heartbeat; rewritten whole when it holds more than twice what it describes. On start the
 * agent asks etcd about the kept lease (LeaseTimeToLive): alive, it is taken back as it is (renewed, each
 * instance given a fresh deadline of its TTL, nothing written); gone, a new lease is granted and every
 * instance put again. The same happens whenever a renewal finds the lease lost (an outage longer than its
 * TTL, a host cut off): a new lease, every key put again.
 */
final class HostLease {
    private static final Logger log = LoggerFactory.getLogger(HostLease.class);
    static final String FILE = "host-lease.journal";
    private static final String LOCK = "host-lease.lock";
    /** The journal's key for the lease itself: value the lease id in hex, ttl its TTL. */
    private static final String LEASE = "lease";
    /** The journal's key for the address an instance was registered from: {@code from:INSTANCE_KEY}. */
    private static final String FROM = "from:";
    /** The host lease's TTL when no held instance asks for less: a node's (a crashed agent's node leaves after it). */
    static final int MAX_TTL_SECONDS = EtcdRegistry.NODE_TTL_SECONDS;
    /** Puts or deletes per transaction (etcd's --max-txn-ops is 128 by default). */
    static final int BATCH = 100;
    static final long EXPIRY_TICK_MS = 250;
    /** How often the renewer looks whether a renewal is due (a shorter lease may come at any time). */
    static final long RENEW_TICK_MS = 100;
    static final long SYNC_MS = 100;

    private final EtcdRegistry registry;
    private final Path file;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Object journalLock = new Object();
    private Journal journal;
    private long journalRev;
    /** Registrations and expiries take it shared; a new lease (grant and put every key) takes it alone. */
    private final ReentrantReadWriteLock rw = new ReentrantReadWriteLock();
    private volatile long leaseId;
    private volatile int ttl;
    /** The lease id kept in the state directory, until etcd has been asked about it (0: none, or asked). */
    private long keptLeaseId;
    private int keptTtl;
    private final Map<String, Held> held = new ConcurrentHashMap<>();
    private final Deadlines<String> deadlines = new Deadlines<>();
    /** Keys of expired instances whose delete has not reached etcd yet. */
    private final Set<String> unsent = ConcurrentHashMap.newKeySet();
    private final List<Held> keptAtStart;
    private volatile String nodeName;
    private volatile String nodeKey;
    private volatile byte[] nodeValue;
    private final ScheduledExecutorService renewer;
    private final ScheduledExecutorService reaper;
    private volatile boolean renewing;
    /** When the next renewal is due (nanoTime): TTL/3 after the last one, or after a new lease. */
    private volatile long nextRenewal;
    /** The node's announcement was revoked (a clean stop): no more renewals. */
    private volatile boolean stopped;
    private volatile boolean closed;
    /** When the renewals started failing (nanoTime), 0 while they work; and what the last failure said. */
    private volatile long failingSince;
    private volatile String lastFailure;
    private int failed;
    private volatile long expiredCount;
    private volatile long newLeases;

    /** @param stateDir where {@value #FILE} is kept, or null to keep nothing (a restart then starts empty) */
    HostLease(EtcdRegistry registry, Path stateDir) {
        this.registry = registry;
        if (stateDir != null) {
            try {
                Files.createDirectories(stateDir);
            } catch (IOException e) {
                throw new ValidationException("state-dir", stateDir, "cannot create it: " + e.getMessage());
            }
            this.file = stateDir.resolve(FILE);
            Path lockFile = stateDir.resolve(LOCK);
            try {
                this.lockChannel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock l;
                try {
                    l = lockChannel.tryLock();
                } catch (OverlappingFileLockException e) {
                    l = null;
                }
                if (l == null) {
                    lockChannel.close();
                    throw new ValidationException("state-dir", stateDir, "another portolan agent is using it (" + lockFile
                            + " is locked): give each agent a --state-dir of its own");
                }
                this.lock = l;
            } catch (IOException e) {
                throw new ValidationException("state-dir", lockFile, "cannot open it: " + e.getMessage());
            }
            this.keptAtStart = load();
        } else {
            this.file = null;
            this.lockChannel = null;
            this.lock = null;
            this.keptAtStart = List.of();
        }
        this.renewer = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "host-lease"));
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "host-lease-expiry"));
        reaper.scheduleWithFixedDelay(this::expireTick, EXPIRY_TICK_MS, EXPIRY_TICK_MS, TimeUnit.MILLISECONDS);
        if (file != null) {
            reaper.scheduleWithFixedDelay(this::sync, SYNC_MS, SYNC_MS, TimeUnit.MILLISECONDS);
        }
    }

    /** A lease id as etcdctl prints it (16 hex digits). */
    static String hex(long id) {
        return String.format("%016x", id);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    // ---- the state directory ------------------------------------------------------------

    /** Reads {@value #FILE}: the lease id and the held instances, each with a fresh deadline of its TTL. */
    private List<Held> load() {
        Map<String, byte[]> values = new LinkedHashMap<>();
        Map<String, Long> ttls = new HashMap<>();
        Map<String, String> from = new HashMap<>();
        if (Files.exists(file)) {
            for (Journal.Change c : Journal.read(file)) {
                journalRev = c.revision() + c.ops().size() - 1;
                for (Journal.Op op : c.ops()) {
                    String k = op.key();
                    if (k.equals(LEASE)) {
                        if (op.value() != null) {
                            keptTtl = (int) op.ttl();
                            try {
                                keptLeaseId = Long.parseUnsignedLong(new String(op.value(), StandardCharsets.UTF_8), 16);
                            } catch (NumberFormatException e) {
                                throw new ValidationException("state-dir", file, "the lease id '" + new String(op.value(), StandardCharsets.UTF_8)
                                        + "' is not hexadecimal; move the file away to start with a new lease (the instances in it are lost)");
                            }
                        }
                    } else if (k.startsWith(FROM)) {
                        if (op.value() == null) {
                            from.remove(k.substring(FROM.length()));
                        } else {
                            from.put(k.substring(FROM.length()), new String(op.value(), StandardCharsets.UTF_8));
                        }
                    } else if (op.value() == null) {
                        values.remove(k);
                        ttls.remove(k);
                    } else {
                        values.put(k, op.value());
                        ttls.put(k, op.ttl());
                    }
                }
            }
        }
        List<Held> kept = new ArrayList<>();
        long now = System.nanoTime();
        for (Map.Entry<String, byte[]> e : values.entrySet()) {
            String key = e.getKey();
            try {
                Instance i = JsonCodec.decodeInstance(e.getValue());
                String f = from.get(key);
                InetAddress a = f == null ? null : InetAddress.getByName(f); // an address literal: no look-up
                int t = (int) Math.max(1, ttls.get(key));
                Held h = new Held(key, i, e.getValue(), t, a);
                held.put(key, h);
                deadlines.set(key, now + TimeUnit.SECONDS.toNanos(t));
                kept.add(h);
            } catch (ValidationException | IOException ex) {
                log.warn("{}: skipping held instance {} whose value does not parse ({})", file, key, ex.getMessage());
            }
        }
        try {
            rewrite(keptLeaseId, keptTtl); // a fresh, compact journal (also drops a torn last record)
        } catch (IOException ex) {
            throw new ValidationException("state-dir", file, "cannot write it: " + ex.getMessage());
        }
        if (keptLeaseId != 0 || !kept.isEmpty()) {
            log.info("host lease: {} instances kept in {}, lease {}", kept.size(), file,
                    keptLeaseId == 0 ? "none" : hex(keptLeaseId));
        }
        return kept;
    }

    /** Writes the journal anew (temp file, fsync, rename, directory fsync) with what is held now, and appends to it from then on. */
    private void rewrite(long lease, int leaseTtl) throws IOException {
        synchronized (journalLock) {
            if (journal != null) {
                journal.close();
            }
            Path tmp = file.resolveSibling(FILE + ".tmp");
            Files.deleteIfExists(tmp);
            long rev = 0;
            try (Journal j = new Journal(tmp)) {
                if (lease != 0) {
                    j.append(++rev, List.of(Journal.Op.put(LEASE, hex(lease).getBytes(StandardCharsets.UTF_8), leaseTtl)));
                }
                List<Journal.Op> ops = new ArrayList<>(BATCH);
                for (Held h : held.values()) {
                    ops.addAll(h.puts());
                    if (ops.size() >= BATCH) {
                        j.append(rev + 1, ops);
                        rev += ops.size();
                        ops.clear();
                    }
                }
                if (!ops.isEmpty()) {
                    j.append(rev + 1, ops);
                    rev += ops.size();
                }
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Journal.syncDirectory(file.getParent());
            journal = new Journal(file);
            journalRev = rev;
        }
    }

    /** One change to the kept state, one line; rewrites the journal once it holds more than twice what is held. */
    private void record(List<Journal.Op> ops) {
        if (file == null) {
            return;
        }
        synchronized (journalLock) {
            if (closed) {
                return;
            }
            journal.append(journalRev + 1, ops);
            journalRev += ops.size();
            if (journal.records() > 1024 + 4L * held.size()) {
                try {
                    rewrite(leaseId, ttl);
                } catch (IOException e) {
                    log.error("could not rewrite {} (it keeps growing until the next try)", file, e);
                    try {
                        journal = new Journal(file);
                    } catch (IOException again) {
                        throw new UncheckedIOException("cannot reopen " + file + ": " + again.getMessage(), again);
                    }
                }
            }
        }
    }

    private void sync() {
        synchronized (journalLock) {
            if (journal != null && !closed) {
                journal.sync();
            }
        }
    }

    // ---- the lease ------------------------------------------------------------------------

    /** What this agent holds now, taken back from the state directory at start (heartbeats go on for them). */
    List<Registry.Lease> keptAtStart() {
        return keptAtStart.stream().filter(h -> held.get(h.key) == h).map(h -> (Registry.Lease) h).toList();
    }

    private String who() {
        String n = nodeName;
        return n == null ? "this agent" : "node " + n;
    }

    /** The TTL a new lease gets: {@value #MAX_TTL_SECONDS} s or the shortest held instance's. */
    private int wantedTtl() {
        int t = MAX_TTL_SECONDS;
        for (Held h : held.values()) {
            t = Math.min(t, h.ttlSeconds);
        }
        return t;
    }

    /** Makes sure there is a lease: the kept one if etcd still has it, else a new one with every key put under it. */
    void ensureLease() {
        if (leaseId != 0) {
            return;
        }
        rw.writeLock().lock();
        try {
            if (leaseId != 0) {
                return;
            }
            long kept = keptLeaseId;
            if (kept != 0) {
                LeaseTimeToLiveResponse r = EtcdLease.attempts(registry, MAX_TTL_SECONDS,
                        c -> c.getLeaseClient().timeToLive(kept, LeaseOption.DEFAULT), "time-to-live of the host lease");
                keptLeaseId = 0;
                if (r.getTTL() > 0) {
                    leaseId = kept;
                    ttl = (int) r.getGrantedTTL();
                    nextRenewal = System.nanoTime(); // at once: its TTL left is unknown to the renewals' rhythm
                    log.info("host lease of {}: took back lease {} (TTL {} s, {} s left) kept in {}, with its {} instances", who(),
                            hex(kept), r.getGrantedTTL(), r.getTTL(), file, held.size());
                    startRenewing();
                    if (ttl > wantedTtl()) {
                        newLease("an instance held has a TTL of " + wantedTtl() + " s, shorter than the lease's");
                    }
                    return;
                }
                log.warn("host lease of {}: lease {} kept in {} is gone from etcd (it expired or was revoked while this agent was"
                        + " down); granting a new one and putting its {} instances again", who(), hex(kept), file, held.size());
            }
            newLease(null);
            startRenewing();
        } finally {
            rw.writeLock().unlock();
        }
    }

    /**
     * Grants a new lease and puts the node's key and every held instance under it, in transactions of
     * {@value #BATCH}; then it is the lease (kept in the state directory) and the old one, if etcd still
     * has it, is revoked (it holds nothing any more). Called with the write lock held.
     *
     * @param why logged when not null
     */
    private void newLease(String why) {
        int t = wantedTtl();
        long old = leaseId;
        long id = EtcdLease.attempts(registry, t, c -> c.getLeaseClient().grant(t), "grant the host lease").getID();
        List<Op> puts = new ArrayList<>(BATCH);
        PutOption under = PutOption.builder().withLeaseId(id).build();
        if (nodeKey != null) {
            puts.add(Op.put(EtcdRegistry.bytes(nodeKey), ByteSequence.from(nodeValue), under));
        }
        int n = 0;
        for (Held h : held.values()) {
            puts.add(Op.put(EtcdRegistry.bytes(h.key), ByteSequence.from(h.value), under));
            n++;
            if (puts.size() >= BATCH) {
                commit(puts, "put " + puts.size() + " keys under the new host lease");
            }
        }
        if (!puts.isEmpty()) {
            commit(puts, "put " + puts.size() + " keys under the new host lease");
        }
        leaseId = id;
        ttl = t;
        nextRenewal = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(period());
        newLeases++;
        failingSince = 0;
        record(List.of(Journal.Op.put(LEASE, hex(id).getBytes(StandardCharsets.UTF_8), t)));
        log.info("host lease of {}: lease {} (TTL {} s) holds {}{} instances{}", who(), hex(id), t,
                nodeKey == null ? "" : "the node's key and ", n, why == null ? "" : " (" + why + ")");
        if (old != 0) {
            try {
                registry.call(c -> c.getLeaseClient().revoke(old), "revoke the former host lease " + hex(old));
            } catch (RuntimeException e) {
                log.debug("former host lease {} not revoked ({}): it holds nothing and expires with its TTL", hex(old), e.getMessage());
            }
        }
    }

    private void commit(List<Op> ops, String what) {
        registry.call(c -> c.getKVClient().txn().Then(ops.toArray(new Op[0])).commit(), what);
        ops.clear();
    }

    private void startRenewing() {
        if (!renewing && !closed && !stopped) {
            renewing = true;
            renewer.scheduleWithFixedDelay(this::renewTick, RENEW_TICK_MS, RENEW_TICK_MS, TimeUnit.MILLISECONDS);
        }
    }

    private long period() {
        return Math.max(200, Math.max(1, ttl) * 1000L / 3);
    }

    /** One renewal every TTL/3 (a single keep-alive in attempts); a lost lease is replaced, every key put again. */
    private void renewTick() {
        if (closed || stopped || System.nanoTime() - nextRenewal < 0) {
            return;
        }
        try {
            long id = leaseId;
            if (id == 0) {
                ensureLease();
            } else {
                LeaseKeepAliveResponse r;
                try {
                    r = EtcdLease.attempts(registry, ttl, c -> c.getLeaseClient().keepAliveOnce(id), "keep-alive of the host lease");
                } catch (RegistryUnavailableException e) {
                    if (!String.valueOf(e.getMessage()).contains("lease not found")) {
                        throw e;
                    }
                    r = null;
                }
                if (r == null || r.getTTL() <= 0) {
                    rw.writeLock().lock();
                    try {
                        if (leaseId == id) {
                            log.info("lease of {} was lost (host lease {}: it expired while etcd was out of reach, or was revoked);"
                                    + " granting a new one and putting its {} instances again", who(), hex(id), held.size());
                            newLease(null);
                        }
                    } finally {
                        rw.writeLock().unlock();
                    }
                }
            }
            if (failed > 0) {
                log.info("host lease of {}: keep-alive works again (lease {}) after {} failed", who(), hex(leaseId), failed);
            }
            failed = 0;
            failingSince = 0;
        } catch (RuntimeException e) {
            if (failingSince == 0) {
                failingSince = System.nanoTime();
            }
            lastFailure = e.getMessage();
            if (failed++ % 10 == 0) {
                log.warn("host lease of {}: keep-alive failed ({}); trying again every {} ms", who(), e.getMessage(), period());
            }
        } finally {
            nextRenewal = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(period());
        }
    }

    /** While the renewals fail: heartbeats are answered 503 with this (the instance is held all the same). */
    private void requireRenewing(Held h) {
        long since = failingSince;
        if (leaseId == 0 || since != 0) {
            throw new RegistryUnavailableException("instance " + h.instance.service() + "/" + h.instance.id() + " is held by this agent,"
                    + " but its host lease in etcd is " + (leaseId == 0 ? "not granted yet" : "not renewed since "
                    + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - since) + " ms (" + lastFailure + ")")
                    + "; it is put again once etcd answers", null);
        }
    }

    // ---- the node -------------------------------------------------------------------------

    Registry.Lease announce(Node node) {
        nodeName = node.name();
        nodeKey = registry.layout().nodeKey(node.name());
        nodeValue = JsonCodec.encode(node);
        ensureLease();
        putUnderLease(nodeKey, nodeValue, "put " + nodeKey);
        return new Registry.Lease() {
            @Override
            public Instance instance() {
                return null;
            }

            @Override
            public void keepAliveOnce() {
                // renewed by the host lease's own timer
            }

            @Override
            public void revoke() {
                String k = nodeKey;
                nodeKey = null;
                stopRenewing();
                if (k != null) {
                    registry.call(c -> c.getKVClient().delete(EtcdRegistry.bytes(k)), "delete " + k);
                }
            }

            @Override
            public void close() {
                stopRenewing();
            }
        };
    }

    /** A put under the lease; if etcd no longer has it, a new lease (every key put again, this one with them). */
    private void putUnderLease(String key, byte[] value, String what) {
        putUnderLease(key, value, what, () -> { });
    }

    /**
     * Puts {@code key} under the lease and then runs {@code andHold} (under the lease's lock). If etcd
     * no longer has the lease, runs {@code andHold} first and takes a new lease, which puts every
     * held key again (this one with them when {@code andHold} held it).
     */
    private void putUnderLease(String key, byte[] value, String what, Runnable andHold) {
        long id;
        rw.readLock().lock();
        try {
            id = leaseId;
            try {
                registry.call(c -> c.getKVClient().put(EtcdRegistry.bytes(key), ByteSequence.from(value),
                        PutOption.builder().withLeaseId(id).build()), what);
                andHold.run();
                return;
            } catch (RegistryUnavailableException e) {
                if (!String.valueOf(e.getMessage()).contains("lease not found")) {
                    throw e;
                }
            }
        } finally {
            rw.readLock().unlock();
        }
        rw.writeLock().lock();
        try {
            andHold.run();
            if (leaseId == id) {
                log.info("lease of {} was lost (host lease {}, found by '{}'); granting a new one and putting its {} instances again",
                        who(), hex(id), what, held.size());
                newLease(null);
            } else {
                putUnderLease(key, value, what, andHold);
            }
        } finally {
            rw.writeLock().unlock();
        }
    }

    // ---- instances --------------------------------------------------------------------------

    Registry.Lease hold(Instance instance, int ttlSeconds, InetAddress from) {
        Held h = new Held(registry.layout().instanceKey(instance.service(), instance.id()), instance, JsonCodec.encode(instance),
                ttlSeconds, from);
        ensureLease();
        put(h);
        if (ttlSeconds < ttl) {
            rw.writeLock().lock();
            try {
                if (ttlSeconds < ttl) {
                    newLease("instance " + instance.service() + "/" + instance.id() + " has a TTL of " + ttlSeconds
                            + " s, shorter than the lease's " + ttl + " s");
                }
            } catch (RuntimeException e) {
                log.warn("host lease of {}: could not move to a shorter lease ({}); instance {}/{} is held under the {} s one", who(),
                        e.getMessage(), instance.service(), instance.id(), ttl);
            } finally {
                rw.writeLock().unlock();
            }
        }
        return h;
    }

    /** Puts {@code h}'s key under the lease and holds it: a deadline of its TTL, a line in the state directory. */
    private void put(Held h) {
        putUnderLease(h.key, h.value, "put " + h.key, () -> holdLocally(h));
    }

    private void holdLocally(Held h) {
        held.put(h.key, h);
        deadlines.set(h.key, System.nanoTime() + TimeUnit.SECONDS.toNanos(h.ttlSeconds));
        unsent.remove(h.key);
        record(h.puts());
    }

    private void heartbeat(Held h) {
        synchronized (h) {
            if (h.closed) {
                return; // deregistered, or replaced by a newer registration of the same id
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(h.ttlSeconds);
            if (held.get(h.key) != h || !deadlines.touch(h.key, deadline)) {
                log.info("instance {}/{} had expired (no heartbeat for its TTL, {} s) and its registrant's heartbeat came: putting it"
                        + " again under the host lease", h.instance.service(), h.instance.id(), h.ttlSeconds);
                ensureLease();
                put(h);
            }
        }
        requireRenewing(h);
    }

    /** No longer held (deregistered, or its service deleted): its deadline and kept line go; the caller deletes the key. */
    void forget(String key) {
        Held current = held.get(key);
        if (current != null) {
            synchronized (current) { // after a heartbeat putting it again, if one is under way; never inside the lock below
                current.closed = true;
            }
        }
        rw.readLock().lock(); // not while a new lease puts every held key: it would put this one back
        try {
            Held h = held.remove(key);
            if (h != null) {
                h.closed = true; // (volatile; not its monitor, which a heartbeat may hold while it waits for this lock)
                deadlines.remove(key);
                record(h.removes());
            }
        } finally {
            rw.readLock().unlock();
        }
    }

    /** {@link #forget} for every held instance under {@code instancesPrefix} (a deleted service). */
    void forgetUnder(String instancesPrefix) {
        for (String key : new ArrayList<>(held.keySet())) {
            if (key.startsWith(instancesPrefix)) {
                forget(key);
            }
        }
    }

    /** The expiry tick: deletes the keys of instances whose deadline passed (only those: see {@link Deadlines}). */
    private void expireTick() {
        if (closed) {
            return;
        }
        try {
            List<String> due = deadlines.expired(System.nanoTime());
            if (due.isEmpty() && unsent.isEmpty()) {
                return;
            }
            rw.writeLock().lock(); // no put of the same key (a heartbeat putting it again) in between
            try {
                for (String key : due) {
                    if (deadlines.contains(key)) {
                        continue; // held again meanwhile
                    }
                    Held h = held.remove(key);
                    if (h != null) {
                        log.info("instance {}/{} expired: no heartbeat for its TTL ({} s); deleting its key", h.instance.service(),
                                h.instance.id(), h.ttlSeconds);
                        expiredCount++;
                        record(h.removes());
                        unsent.add(key);
                    }
                }
                unsent.removeIf(held::containsKey);
                if (unsent.isEmpty() || leaseId == 0) {
                    return;
                }
                List<Op> deletes = new ArrayList<>(BATCH);
                List<String> keys = new ArrayList<>(unsent);
                try {
                    for (String key : keys) {
                        deletes.add(Op.delete(EtcdRegistry.bytes(key), DeleteOption.DEFAULT));
                        if (deletes.size() >= BATCH) {
                            commit(deletes, "delete " + BATCH + " expired instances");
                        }
                    }
                    if (!deletes.isEmpty()) {
                        commit(deletes, "delete " + deletes.size() + " expired instances");
                    }
                    unsent.clear();
                } catch (RuntimeException e) {
                    log.warn("host lease of {}: could not delete {} expired instances yet ({}); trying again", who(), unsent.size(), e.getMessage());
                }
            } finally {
                rw.writeLock().unlock();
            }
        } catch (RuntimeException e) {
            log.error("host lease: expiring instances", e);
        }
    }

    int heldCount() {
        return held.size();
    }

    long expired() {
        return expiredCount;
    }

    long leasesGranted() {
        return newLeases;
    }

    long leaseId() {
        return leaseId;
    }

    private void stopRenewing() {
        stopped = true;
        renewer.shutdownNow();
    }

    /** Stops renewing and expiring; the lease and the kept state stay for the next start. */
    void close() {
        closed = true;
        renewer.shutdownNow();
        reaper.shutdownNow();
        synchronized (journalLock) {
            if (journal != null) {
                journal.close();
                journal = null;
            }
        }
        try {
            if (lock != null) {
                lock.release();
                lockChannel.close();
            }
        } catch (IOException e) {
            log.debug("releasing {}: {}", LOCK, e.getMessage());
        }
    }

    /** An instance held under the host lease; the registrant's heartbeat is {@link #keepAliveOnce()}. */
    final class Held implements Registry.Lease {
        final String key;
        final Instance instance;
        final byte[] value;
        final int ttlSeconds;
        final InetAddress from;
        /** Deregistered or replaced: heartbeats no longer keep it or put it again. Set under this object's monitor. */
        volatile boolean closed;

        Held(String key, Instance instance, byte[] value, int ttlSeconds, InetAddress from) {
            this.key = key;
            this.instance = instance;
            this.value = value;
            this.ttlSeconds = ttlSeconds;
            this.from = from;
        }

        List<Journal.Op> puts() {
            Journal.Op put = Journal.Op.put(key, value, ttlSeconds);
            return from == null ? List.of(put, Journal.Op.delete(FROM + key))
                    : List.of(put, Journal.Op.put(FROM + key, from.getHostAddress().getBytes(StandardCharsets.UTF_8), 0));
        }

        List<Journal.Op> removes() {
            return List.of(Journal.Op.delete(key), Journal.Op.delete(FROM + key));
        }

        @Override
        public Instance instance() {
            return instance;
        }

        @Override
        public InetAddress registrant() {
            return from;
        }

        /** The registrant's heartbeat: a new local deadline (no etcd call); put again if it had expired. */
        @Override
        public void keepAliveOnce() {
            heartbeat(this);
        }

        @Override
        public void revoke() {
            forget(key);
            registry.call(c -> c.getKVClient().delete(EtcdRegistry.bytes(key)), "delete " + key);
        }

        /** Heartbeats no longer keep it; its deadline takes it. */
        @Override
        public void close() {
            synchronized (this) {
                closed = true;
            }
        }
    }
}
