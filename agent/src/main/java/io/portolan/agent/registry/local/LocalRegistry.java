package io.portolan.agent.registry.local;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The embedded store for a single host: the same keys and values as etcd, kept in memory and
 * persisted to {@code STATE_DIR/registry.json} (written to a temporary file, fsynced, renamed)
 * after every change, so it survives an agent restart. Leases are deadlines checked four times a
 * second; after a restart every instance gets a full TTL to send its next heartbeat.
 */
public final class LocalRegistry implements Registry {
    private static final Logger log = LoggerFactory.getLogger(LocalRegistry.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();
    static final String FILE = "registry.json";

    private final Path file;
    private final KeyLayout layout;
    private final Cidr vipCidr;
    private final TreeMap<String, byte[]> kv = new TreeMap<>();
    /** Instance key → its lease: TTL in seconds and deadline (nanoTime). */
    private final Map<String, long[]> leases = new HashMap<>();
    private final ScheduledExecutorService reaper;
    private long revision;
    private RegistryState state;

    public LocalRegistry(Path stateDir, KeyLayout layout, Cidr vipCidr) {
        this.layout = layout;
        this.vipCidr = vipCidr;
        try {
            Files.createDirectories(stateDir);
        } catch (IOException e) {
            throw new ValidationException("state-dir", stateDir, "cannot create it: " + e.getMessage());
        }
        this.file = stateDir.resolve(FILE);
        load();
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "local-registry-leases");
            t.setDaemon(true);
            return t;
        });
        reaper.scheduleWithFixedDelay(this::expire, 250, 250, TimeUnit.MILLISECONDS);
    }

    @Override
    public String kind() {
        return "local";
    }

    @Override
    public List<String> endpoints() {
        return List.of(file.toString());
    }

    private void load() {
        if (!Files.exists(file)) {
            return;
        }
        try {
            JsonNode root = MAPPER.readTree(file.toFile());
            revision = root.path("revision").asLong();
            long now = System.nanoTime();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.path("keys").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                byte[] value = v.isTextual() ? v.textValue().getBytes(StandardCharsets.UTF_8) : MAPPER.writeValueAsBytes(v);
                kv.put(e.getKey(), value);
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = root.path("leases").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                long ttl = e.getValue().asLong(10);
                if (kv.containsKey(e.getKey())) {
                    leases.put(e.getKey(), new long[] {ttl, now + TimeUnit.SECONDS.toNanos(ttl)});
                }
            }
            log.info("loaded {} keys at revision {} from {}", kv.size(), revision, file);
        } catch (IOException e) {
            throw new ValidationException("state-dir", file, "the registry file does not parse (" + e.getMessage()
                    + "); move it away to start empty");
        }
    }

    private void persist() {
        Path tmp = file.resolveSibling(FILE + ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
                 JsonGenerator g = MAPPER.getFactory().createGenerator(out, JsonEncoding.UTF8)) {
                g.writeStartObject();
                g.writeNumberField("schema", JsonCodec.SCHEMA);
                g.writeNumberField("revision", revision);
                g.writeObjectFieldStart("keys");
                for (Map.Entry<String, byte[]> e : kv.entrySet()) {
                    g.writeFieldName(e.getKey());
                    if (e.getKey().startsWith(layout.vipsPrefix())) {
                        g.writeString(new String(e.getValue(), StandardCharsets.UTF_8));
                    } else {
                        g.writeRawValue(new String(e.getValue(), StandardCharsets.UTF_8));
                    }
                }
                g.writeEndObject();
                g.writeObjectFieldStart("leases");
                for (Map.Entry<String, long[]> e : leases.entrySet()) {
                    g.writeNumberField(e.getKey(), e.getValue()[0]);
                }
                g.writeEndObject();
                g.writeEndObject();
            }
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
                dir.force(true);
            } catch (IOException ignored) {
                // some file systems cannot fsync a directory
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not write " + file, e);
        }
    }

    // ---- reading ------------------------------------------------------------------------

    @Override
    public synchronized void start(RegistryState target) {
        this.state = target;
        target.reset(new HashMap<>(kv), revision);
    }

    private void emit(List<KvEvent> events) {
        persist();
        if (state != null && !events.isEmpty()) {
            state.apply(events, revision);
        }
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
        return new KvEvent(key, null, revision);
    }

    private void expire() {
        synchronized (this) {
            long now = System.nanoTime();
            List<KvEvent> events = new ArrayList<>();
            for (Iterator<Map.Entry<String, long[]>> it = leases.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, long[]> e = it.next();
                if (now - e.getValue()[1] > 0) {
                    it.remove();
                    if (kv.containsKey(e.getKey())) {
                        log.info("lease of {} expired", e.getKey());
                        events.add(delete(e.getKey()));
                    }
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
        leases.put(key, new long[] {ttlSeconds, System.nanoTime() + TimeUnit.SECONDS.toNanos(ttlSeconds)});
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
                if (kv.containsKey(key) && leases.containsKey(key)) {
                    leases.get(key)[1] = deadline;
                    return;
                }
                leases.put(key, new long[] {ttlSeconds, deadline});
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
