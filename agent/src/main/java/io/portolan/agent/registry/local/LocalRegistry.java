package io.portolan.agent.registry.local;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.agent.registry.Deadlines;
import io.portolan.agent.registry.Journal;
import io.portolan.agent.registry.KvEvent;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.Services;
import io.portolan.proto.Cidr;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Node;
import io.portolan.proto.Mode;
import io.portolan.proto.Service;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The embedded store for a single host: the same keys and values as etcd, kept in memory and
 * persisted in the state directory as a snapshot, {@code registry.json}, and an append-only
 * {@link Journal}, {@code registry.journal}: every change is one line appended (one write) before it
 * is acknowledged, so a {@code kill -9} at any point loses no acknowledged change; the journal is
 * fsynced in batches every {@value #SYNC_MILLIS} ms (what a power loss may cost; registrants'
 * heartbeats answered 404 register again). When the journal holds more ops than
 * max({@code compactFloor}, the number of keys), it is compacted: the journal is renamed to
 * {@code registry.journal.1} and a fresh one started (under the lock), then, on a background thread,
 * a snapshot at that revision is written (temp file, fsync, atomic rename, directory fsync) and
 * {@code registry.journal.1} removed. Loading reads the snapshot, then the journal(s), applying only
 * ops past the snapshot's revision, so a crash between any two steps loses nothing. Work per change
 * is O(1) amortized. Leases are deadlines ({@link Deadlines}: a tick looks only at what is due) checked
 * four times a second and never written on a refresh; after a restart every instance gets a full TTL to send its next heartbeat.
 */
public final class LocalRegistry implements Registry {
    private static final Logger log = LoggerFactory.getLogger(LocalRegistry.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();
    static final String FILE = "registry.json";
    static final String JOURNAL = "registry.journal";
    static final String ROTATED = "registry.journal.1";
    static final long SYNC_MILLIS = 100;
    /** The journal's ops before a compaction is considered: {@code -Dportolan.registry.compact-floor=N} (tests). */
    static final long COMPACT_FLOOR = Long.getLong("portolan.registry.compact-floor", 10_000);

    private final Path file;
    private final Path journalFile;
    private final Path rotatedFile;
    private final KeyLayout layout;
    private final Cidr vipCidr;
    private final TreeMap<String, byte[]> kv = new TreeMap<>();
    /** Instance key → its lease's TTL in seconds. */
    private final Map<String, Long> leases = new HashMap<>();
    /** Instance key → its lease's deadline (nanoTime), moved by each refresh. */
    private final Deadlines<String> deadlines = new Deadlines<>();
    private final ScheduledExecutorService reaper;
    private final ExecutorService compactor;
    private final Journal journal;
    private final long compactFloor;
    private boolean compacting;
    private long compactions;
    private long revision;
    private RegistryState state;
    /** Changes journaled but not yet handed to {@link #state}; {@code applying} while the applier has a run queued. */
    private final List<KvEvent> pending = new ArrayList<>();
    private boolean applying;
    private final ExecutorService applier;

    public LocalRegistry(Path stateDir, KeyLayout layout, Cidr vipCidr) {
        this(stateDir, layout, vipCidr, COMPACT_FLOOR);
    }

    LocalRegistry(Path stateDir, KeyLayout layout, Cidr vipCidr, long compactFloor) {
        this.compactFloor = compactFloor;
        this.layout = layout;
        this.vipCidr = vipCidr;
        try {
            Files.createDirectories(stateDir);
        } catch (IOException e) {
            throw new ValidationException("state-dir", stateDir, "cannot create it: " + e.getMessage());
        }
        this.file = stateDir.resolve(FILE);
        this.journalFile = stateDir.resolve(JOURNAL);
        this.rotatedFile = stateDir.resolve(ROTATED);
        load();
        try {
            this.journal = new Journal(journalFile);
        } catch (IOException e) {
            throw new ValidationException("state-dir", journalFile, "cannot open the journal: " + e.getMessage());
        }
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "local-registry-leases");
            t.setDaemon(true);
            return t;
        });
        this.applier = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "local-registry-apply");
            t.setDaemon(true);
            return t;
        });
        this.compactor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "local-registry-compaction");
            t.setDaemon(true);
            return t;
        });
        reaper.scheduleWithFixedDelay(this::expire, 250, 250, TimeUnit.MILLISECONDS);
        reaper.scheduleWithFixedDelay(journal::sync, SYNC_MILLIS, SYNC_MILLIS, TimeUnit.MILLISECONDS);
    }

    @Override
    public String kind() {
        return "local";
    }

    @Override
    public List<String> endpoints() {
        return List.of(file.toString());
    }

    /** A copy of every key and value (tests). */
    synchronized Map<String, byte[]> keys() {
        return new HashMap<>(kv);
    }

    /** Compactions finished since start (tests). */
    synchronized long compactions() {
        return compactions;
    }

    private void load() {
        if (Files.exists(file)) {
            try {
                readSnapshot();
                log.info("loaded {} keys at revision {} from {}", kv.size(), revision, file);
            } catch (IOException | RuntimeException e) {
                throw new ValidationException("state-dir", file, "the registry file does not parse (" + e.getMessage()
                        + "); move it away to start empty");
            }
        }
        long snapshotRevision = revision;
        boolean journals = false;
        int replayed = 0;
        for (Path j : List.of(rotatedFile, journalFile)) {
            if (!Files.exists(j)) {
                continue;
            }
            journals = true;
            long now = System.nanoTime();
            for (Journal.Change c : Journal.read(j)) {
                long rev = c.revision();
                for (Journal.Op op : c.ops()) {
                    if (rev > revision) {
                        if (op.value() == null) {
                            kv.remove(op.key());
                            leases.remove(op.key());
                            deadlines.remove(op.key());
                        } else {
                            kv.put(op.key(), op.value());
                            if (op.ttl() > 0) {
                                leases.put(op.key(), op.ttl());
                                deadlines.set(op.key(), now + TimeUnit.SECONDS.toNanos(op.ttl()));
                            } else {
                                leases.remove(op.key());
                                deadlines.remove(op.key());
                            }
                        }
                        revision = rev;
                        replayed++;
                    }
                    rev++;
                }
            }
        }
        if (journals) {
            log.info("replayed {} changes past revision {} from {}: {} keys at revision {}", replayed, snapshotRevision, journalFile,
                    kv.size(), revision);
            // start from a fresh snapshot and an empty journal (also drops a torn last record)
            try {
                writeSnapshot(new TreeMap<>(kv), ttls(), revision);
                Files.deleteIfExists(rotatedFile);
                Files.deleteIfExists(journalFile);
                syncDirectory(file.getParent());
            } catch (IOException e) {
                throw new ValidationException("state-dir", file, "cannot write the registry snapshot: " + e.getMessage());
            }
        }
    }

    /** Streams {@code registry.json} (no tree of the whole file): a value is kept as its JSON text, a VIP owner as its string. */
    private void readSnapshot() throws IOException {
        long now = System.nanoTime();
        Map<String, Long> ttls = new HashMap<>();
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream(512);
        try (JsonParser p = MAPPER.getFactory().createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken t = p.nextToken();
                if (field.equals("revision")) {
                    revision = p.getValueAsLong();
                } else if ((field.equals("keys") || field.equals("leases")) && t == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String key = p.currentName();
                        JsonToken v = p.nextToken();
                        if (field.equals("leases")) {
                            ttls.put(key, p.getValueAsLong(10));
                        } else if (v == JsonToken.VALUE_STRING) {
                            kv.put(key, p.getText().getBytes(StandardCharsets.UTF_8));
                        } else {
                            buf.reset();
                            try (JsonGenerator g = MAPPER.getFactory().createGenerator(buf, JsonEncoding.UTF8)) {
                                g.copyCurrentStructure(p);
                            }
                            kv.put(key, buf.toByteArray());
                        }
                    }
                } else {
                    p.skipChildren();
                }
            }
        }
        ttls.forEach((key, ttl) -> {
            if (kv.containsKey(key)) {
                leases.put(key, ttl);
                deadlines.set(key, now + TimeUnit.SECONDS.toNanos(ttl));
            }
        });
    }

    private Map<String, Long> ttls() {
        return new HashMap<>(leases);
    }

    /** The snapshot: temp file, fsync, atomic rename, directory fsync. The format predates the journal. */
    private void writeSnapshot(java.util.SortedMap<String, byte[]> keys, Map<String, Long> ttls, long atRevision) throws IOException {
        Path tmp = file.resolveSibling(FILE + ".tmp");
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE), 1 << 16);
             JsonGenerator g = MAPPER.getFactory().createGenerator(out, JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeNumberField("schema", JsonCodec.SCHEMA);
            g.writeNumberField("revision", atRevision);
            g.writeObjectFieldStart("keys");
            for (Map.Entry<String, byte[]> e : keys.entrySet()) {
                g.writeFieldName(e.getKey());
                if (e.getKey().startsWith(layout.vipsPrefix())) {
                    g.writeString(new String(e.getValue(), StandardCharsets.UTF_8));
                } else {
                    g.writeRawValue(new String(e.getValue(), StandardCharsets.UTF_8));
                }
            }
            g.writeEndObject();
            g.writeObjectFieldStart("leases");
            for (Map.Entry<String, Long> e : ttls.entrySet()) {
                g.writeNumberField(e.getKey(), e.getValue());
            }
            g.writeEndObject();
            g.writeEndObject();
        }
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        syncDirectory(file.getParent());
    }

    static void syncDirectory(Path dir) {
        Journal.syncDirectory(dir);
    }

    /** Called with the lock held after an append: rotates the journal and compacts in the background. */
    private void maybeCompact() {
        if (compacting || journal.records() <= Math.max(compactFloor, kv.size())) {
            return;
        }
        TreeMap<String, byte[]> keys = new TreeMap<>(kv); // values are immutable: a shallow, linear copy
        Map<String, Long> ttls = ttls();
        long atRevision = revision;
        try {
            journal.rotate(rotatedFile);
        } catch (IOException e) {
            log.error("could not rotate {} (compaction skipped; the journal keeps growing)", journalFile, e);
            return;
        }
        compacting = true;
        compactor.execute(() -> {
            boolean done = false;
            try {
                writeSnapshot(keys, ttls, atRevision);
                Files.deleteIfExists(rotatedFile);
                syncDirectory(file.getParent());
                done = true;
                log.debug("compacted {} keys at revision {}", keys.size(), atRevision);
            } catch (IOException | RuntimeException e) {
                log.error("compacting the registry into {} failed; {} keeps its changes", file, rotatedFile, e);
            } finally {
                synchronized (LocalRegistry.this) {
                    compacting = !done && Files.exists(rotatedFile); // a failed one is not retried over its rotated journal
                    if (done) {
                        compactions++;
                    }
                }
            }
        });
    }

    // ---- reading ------------------------------------------------------------------------

    @Override
    public synchronized void start(RegistryState target) {
        this.state = target;
        pending.clear();
        target.reset(new HashMap<>(kv), revision);
    }

    /**
     * Hands what changed to the registry state on the applier thread, in order, in batches: the
     * caller (a registration) returns once its change is in the journal, as a put to etcd returns
     * before the watch delivers it, and a snapshot build (which holds the state's lock) never stalls a
     * registration.
     */
    private void deliver(List<KvEvent> events) {
        if (state == null) {
            return;
        }
        pending.addAll(events);
        if (!applying) {
            try {
                applier.execute(this::applyPending);
                applying = true;
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                pending.clear();
            }
        }
    }

    private void applyPending() {
        List<KvEvent> batch;
        long atRevision;
        RegistryState target;
        synchronized (this) {
            applying = false;
            if (pending.isEmpty()) {
                return;
            }
            batch = new ArrayList<>(pending);
            pending.clear();
            atRevision = revision;
            target = state;
        }
        try {
            target.apply(batch, atRevision);
        } catch (RuntimeException e) {
            log.error("applying {} changes to the registry state", batch.size(), e);
        }
    }

    private void emit(List<KvEvent> events) {
        if (events.isEmpty()) {
            return;
        }
        List<Journal.Op> ops = new ArrayList<>(events.size());
        for (KvEvent e : events) {
            if (e.value() == null) {
                ops.add(Journal.Op.delete(e.key()));
            } else {
                Long ttl = leases.get(e.key());
                ops.add(Journal.Op.put(e.key(), e.value(), ttl == null ? 0 : ttl));
            }
        }
        journal.append(events.get(0).modRevision(), ops);
        maybeCompact();
        deliver(events);
    }

    private KvEvent put(String key, byte[] value) {
        revision++;
        kv.put(key, value);
        return new KvEvent(key, value, revision);
    }

    private KvEvent delete(String key) {
        revision++;
        kv.remove(key);
        leases.remove(key);
        deadlines.remove(key);
        return new KvEvent(key, null, revision);
    }

    private void expire() {
        synchronized (this) {
            List<KvEvent> events = new ArrayList<>();
            for (String key : deadlines.expired(System.nanoTime())) { // only what is due: no pass over every lease
                leases.remove(key);
                if (kv.containsKey(key)) {
                    log.info("lease of {} expired", key);
                    events.add(delete(key));
                }
            }
            if (!events.isEmpty()) {
                try {
                    emit(events);
                } catch (RuntimeException ex) {
                    log.error("expiring leases", ex);
                }
            }
        }
    }

    // ---- writing ------------------------------------------------------------------------

    @Override
    public synchronized Service ensureService(Service wanted) {
        String svcKey = layout.serviceKey(wanted.name());
        byte[] stored = kv.get(svcKey);
        if (stored != null) {
            Service existing;
            try {
                existing = JsonCodec.decodeService(stored);
            } catch (ValidationException e) {
                throw new ValidationException("service", svcKey, "the stored definition does not parse (" + e.getMessage() + ")");
            }
            Service merged = Services.merge(existing, wanted);
            if (merged != existing) {
                emit(List.of(put(svcKey, JsonCodec.encode(merged))));
            }
            return merged;
        }
        Service s = wanted.withVip(null);
        List<KvEvent> events = new ArrayList<>(2);
        if (wanted.mode() == Mode.VIP) {
            long limit = Math.min(vipCidr.usable(), 1_000_000);
            InetAddress vip = null;
            for (long probe = 0; probe < limit; probe++) {
                InetAddress c = vipCidr.candidate(wanted.name(), probe);
                if (!kv.containsKey(layout.vipKey(c))) {
                    vip = c;
                    break;
                }
            }
            if (vip == null) {
                throw new ValidationException("vip-cidr", vipCidr.toString(), "no free VIP left for service '" + wanted.name() + "'");
            }
            s = wanted.withVip(vip);
            events.add(put(layout.vipKey(vip), wanted.name().getBytes(StandardCharsets.UTF_8)));
            log.info("allocated VIP {} to service {}", vip.getHostAddress(), wanted.name());
        }
        events.add(put(svcKey, JsonCodec.encode(s)));
        emit(events);
        return s;
    }

    @Override
    public synchronized Lease register(Instance instance, int ttlSeconds, boolean keepsItselfAlive) {
        String key = layout.instanceKey(instance.service(), instance.id());
        byte[] value = JsonCodec.encode(instance);
        leases.put(key, (long) ttlSeconds);
        deadlines.set(key, System.nanoTime() + TimeUnit.SECONDS.toNanos(ttlSeconds));
        emit(List.of(put(key, value)));
        LocalLease lease = new LocalLease(key, instance, ttlSeconds, value);
        if (keepsItselfAlive) {
            lease.task = reaper.scheduleWithFixedDelay(() -> {
                try {
                    lease.keepAliveOnce();
                } catch (RuntimeException e) {
                    log.warn("keep-alive of {} failed", key, e);
                }
            }, ttlSeconds * 1000L / 3, ttlSeconds * 1000L / 3, TimeUnit.MILLISECONDS);
        }
        return lease;
    }

    @Override
    public synchronized boolean setHealth(String service, String id, Health health, String reason) {
        String key = layout.instanceKey(service, id);
        byte[] value = kv.get(key);
        if (value == null) {
            return false;
        }
        Instance now = JsonCodec.decodeInstance(value);
        Instance next = now.withHealth(health, reason);
        if (!next.equals(now)) {
            emit(List.of(put(key, JsonCodec.encode(next)))); // the lease (a deadline by key) stays as it is
        }
        return true;
    }

    /** The single host's node, as a plain key (no lease: it is this store's only host). */
    @Override
    public synchronized Lease announce(Node node) {
        String key = layout.nodeKey(node.name());
        byte[] value = JsonCodec.encode(node);
        if (!java.util.Arrays.equals(kv.get(key), value)) {
            emit(List.of(put(key, value)));
        }
        return new LocalLease(key, null, 0, value);
    }

    @Override
    public synchronized boolean deregister(String service, String id) {
        String key = layout.instanceKey(service, id);
        if (!kv.containsKey(key)) {
            return false;
        }
        emit(List.of(delete(key)));
        return true;
    }

    @Override
    public synchronized boolean deleteService(String name) {
        String svcKey = layout.serviceKey(name);
        byte[] stored = kv.get(svcKey);
        if (stored == null) {
            return false;
        }
        List<KvEvent> events = new ArrayList<>();
        String instPrefix = layout.instancesPrefix(name);
        for (String k : new ArrayList<>(kv.subMap(instPrefix, instPrefix + Character.MAX_VALUE).keySet())) {
            events.add(delete(k));
        }
        try {
            Service s = JsonCodec.decodeService(stored);
            if (s.vip() != null) {
                String vipKey = layout.vipKey(s.vip());
                byte[] owner = kv.get(vipKey);
                if (owner != null && name.equals(new String(owner, StandardCharsets.UTF_8))) {
                    events.add(delete(vipKey));
                }
            }
        } catch (ValidationException e) {
            log.warn("deleting service {} whose stored value does not parse: {}", name, e.getMessage());
        }
        events.add(delete(svcKey));
        emit(events);
        return true;
    }

    @Override
    public void close() {
        reaper.shutdownNow();
        applier.shutdown();
        compactor.shutdown();
        try {
            if (!compactor.awaitTermination(30, TimeUnit.SECONDS)) {
                log.warn("a compaction is still running; the next start finishes it from the journal");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            journal.close();
        }
    }

    /** An instance's lease; with {@code ttlSeconds} 0 and no instance, a node's plain key. */
    private final class LocalLease implements Lease {
        private final String key;
        private final Instance instance;
        private final int ttlSeconds;
        private final byte[] value;
        volatile java.util.concurrent.ScheduledFuture<?> task;

        LocalLease(String key, Instance instance, int ttlSeconds, byte[] value) {
            this.key = key;
            this.instance = instance;
            this.ttlSeconds = ttlSeconds;
            this.value = value;
        }

        @Override
        public Instance instance() {
            return instance;
        }

        @Override
        public void keepAliveOnce() {
            synchronized (LocalRegistry.this) {
                if (ttlSeconds == 0) { // a plain key: put again if gone
                    if (!kv.containsKey(key)) {
                        emit(List.of(put(key, value)));
                    }
                    return;
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(ttlSeconds);
                if (kv.containsKey(key) && leases.containsKey(key) && deadlines.touch(key, deadline)) {
                    return;
                }
                leases.put(key, (long) ttlSeconds);
                deadlines.set(key, deadline);
                log.info("lease of {} was lost; putting the key again", key);
                emit(List.of(put(key, value)));
            }
        }

        @Override
        public void revoke() {
            close();
            synchronized (LocalRegistry.this) {
                if (kv.containsKey(key)) {
                    emit(List.of(delete(key)));
                }
            }
        }

        @Override
        public void close() {
            java.util.concurrent.ScheduledFuture<?> t = task;
            if (t != null) {
                t.cancel(false);
            }
        }
    }
}
