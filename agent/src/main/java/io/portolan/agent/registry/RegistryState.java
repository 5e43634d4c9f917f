package io.portolan.agent.registry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Node;
import io.portolan.proto.Service;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The agent's view of the registry, fed by one store (etcd or local) and turned into snapshots.
 * Events are cut down at the edge: each value is parsed once, here; a value that does not parse
 * is skipped with a warning naming the key, and whatever that key held before stays in force.
 *
 * <p>{@link #apply} and {@link #reset} are serialized; building and publishing the snapshot runs
 * on a separate thread that coalesces bursts: while one snapshot is being built, further events
 * only mark the state dirty, and the next build includes all of them.
 */
public final class RegistryState implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RegistryState.class);

    private final KeyLayout layout;
    private final SnapshotPublisher publisher;
    private final Map<String, Service> services = new HashMap<>();
    private final Map<String, Map<String, Instance>> instances = new HashMap<>();
    private final Map<String, Node> nodes = new HashMap<>();
    /** Imported instances by service and id, as the importer gave them (see {@link #importInstances}). */
    private final Map<String, Map<String, Instance>> imported = new HashMap<>();
    /** The same with each node resolved from the nodes' advertise addresses: what snapshots carry. */
    private final Map<String, Map<String, Instance>> importedView = new HashMap<>();
    private final Set<String> pendingImports = new HashSet<>();
    private boolean nodesChanged;
    /**
     * The owners of the VIP keys, by key. Nothing else is kept of a value once it is parsed: a put
     * is a no-op when its parsed value equals the one held (services, instances and nodes are
     * records), and a re-list diffs against the keys the parsed values give back. Keeping each
     * key's raw bytes for that cost about a third of the heap at 100,000 instances.
     */
    private final Map<String, String> vipOwners = new HashMap<>();
    private final Set<String> rejected = new HashSet<>();
    private long revision;
    /** When the last event or listing was applied (epoch ms; 0: none yet), for the status page. */
    private volatile long lastEventMillis;
    private boolean loaded;
    /** Services whose definition or instances changed since the last snapshot was built. */
    private final Set<String> dirty = new HashSet<>();
    private ClusterSnapshot last;

    private final ExecutorService builder = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "snapshot-builder");
        t.setDaemon(true);
        return t;
    });
    private final AtomicBoolean buildPending = new AtomicBoolean();
    private final Counter eventsApplied;
    private final Counter invalidValues;
    private final Counter resets;
    private final Timer buildTimer;

    public RegistryState(KeyLayout layout, SnapshotPublisher publisher, MeterRegistry meters) {
        this.layout = layout;
        this.publisher = publisher;
        this.eventsApplied = Counter.builder("portolan_registry_events").description("registry events applied").register(meters);
        this.invalidValues = Counter.builder("portolan_registry_invalid_values")
                .description("values under the prefix that did not parse and were skipped").register(meters);
        this.resets = Counter.builder("portolan_registry_relists").description("full re-lists diffed into the state").register(meters);
        this.buildTimer = Timer.builder("portolan_snapshot_build").description("time to build and publish a snapshot").register(meters);
        Gauge.builder("portolan_snapshot_revision", publisher, p -> p.current().revision()).register(meters);
        Gauge.builder("portolan_snapshot_services", publisher, p -> p.current().services().size()).register(meters);
        Gauge.builder("portolan_snapshot_instances", publisher, p -> p.current().instanceCount()).register(meters);
    }

    /** True once a full listing has been applied (and every importer expected has loaded its own). */
    public synchronized boolean loaded() {
        return loaded && pendingImports.isEmpty();
    }

    public synchronized long revision() {
        return revision;
    }

    /** How many nodes the registry lists (announced agents): the fleet's size. */
    public synchronized int nodeCount() {
        return nodes.size();
    }

    /**
     * Where {@code node} stands among the nodes the registry lists, in name order (0 for the first),
     * or -1 when it is not listed: every agent works out the same order from the same listing, so
     * each can take a turn of its own without asking the others (re-lists after a compaction).
     */
    public synchronized int nodeRank(String node) {
        if (node == null || !nodes.containsKey(node)) {
            return -1;
        }
        int rank = 0;
        for (String n : nodes.keySet()) {
            if (n.compareTo(node) < 0) {
                rank++;
            }
        }
        return rank;
    }

    /** When the store's last change (an event, or a full listing) was applied; null before the first. */
    public java.time.Instant lastEvent() {
        long at = lastEventMillis;
        return at == 0 ? null : java.time.Instant.ofEpochMilli(at);
    }

    /** Applies a batch of watch events observed at store revision {@code atRevision}. */
    public void apply(List<KvEvent> events, long atRevision) {
        synchronized (this) {
            for (KvEvent e : events) {
                applyOne(e);
            }
            eventsApplied.increment(events.size());
            lastEventMillis = System.currentTimeMillis();
            if (atRevision > revision) {
                revision = atRevision;
            }
        }
        scheduleBuild();
    }

    /**
     * Replaces the state with a full listing taken at {@code atRevision}: keys that are gone are
     * deleted, changed keys re-parsed, unchanged keys left alone. This is how a compaction or a
     * lost watch is recovered without missing a delete.
     */
    public void reset(Map<String, byte[]> listing, long atRevision) {
        synchronized (this) {
            Set<String> known = acceptedKeys();
            known.addAll(rejected);
            int deleted = 0;
            for (String key : known) {
                if (!listing.containsKey(key)) {
                    applyOne(new KvEvent(key, null, atRevision));
                    deleted++;
                }
            }
            for (Map.Entry<String, byte[]> e : listing.entrySet()) {
                applyOne(new KvEvent(e.getKey(), e.getValue(), atRevision));
            }
            revision = atRevision;
            lastEventMillis = System.currentTimeMillis();
            if (loaded) {
                resets.increment();
                log.info("re-listed {} keys at revision {}; {} deleted while unwatched", listing.size(), atRevision, deleted);
            }
            loaded = true;
        }
        scheduleBuild();
    }

    private void applyOne(KvEvent e) {
        String key = e.key();
        KeyLayout.Key k;
        try {
            k = layout.parse(key);
        } catch (ValidationException ex) {
            warnOnce(key, ex.getMessage());
            return;
        }
        if (e.isDelete()) {
            rejected.remove(key);
            if (held(k, key) == null) {
                return;
            }
            switch (k.kind()) {
                case SERVICE -> services.remove(k.service());
                case INSTANCE -> {
                    Map<String, Instance> m = instances.get(k.service());
                    m.remove(k.id());
                    if (m.isEmpty()) {
                        instances.remove(k.service());
                    }
                }
                case NODE -> {
                    nodes.remove(k.id());
                    nodesChanged = true;
                }
                case VIP -> vipOwners.remove(key);
            }
            if (k.service() != null) {
                dirty.add(k.service());
            }
            return;
        }
        Object value;
        try {
            value = decode(k, e.value());
        } catch (ValidationException ex) {
            warnOnce(key, ex.getMessage());
            return;
        }
        rejected.remove(key);
        if (value.equals(held(k, key))) {
            return; // a no-op put: a re-registration, a re-list of an unchanged key
        }
        switch (k.kind()) {
            case SERVICE -> services.put(k.service(), (Service) value);
            // keyed by the value's own id (decode checked it equals the key's): one String per instance, not two
            // by id in order: the snapshot's sort of a changed service's instances is then linear
            case INSTANCE -> instances.computeIfAbsent(k.service(), x -> new java.util.TreeMap<>()).put(((Instance) value).id(), (Instance) value);
            case NODE -> {
                nodes.put(k.id(), (Node) value);
                nodesChanged = true;
            }
            case VIP -> vipOwners.put(key, (String) value);
        }
        if (k.service() != null) {
            dirty.add(k.service());
        }
    }

    /** What is held for a key: its Service, Instance, Node or VIP owner; null when nothing is. */
    private Object held(KeyLayout.Key k, String key) {
        return switch (k.kind()) {
            case SERVICE -> services.get(k.service());
            case INSTANCE -> {
                Map<String, Instance> m = instances.get(k.service());
                yield m == null ? null : m.get(k.id());
            }
            case NODE -> nodes.get(k.id());
            case VIP -> vipOwners.get(key);
        };
    }

    /**
     * Parses a value under a key: a {@link Service}, {@link Instance} or {@link Node} whose name
     * matches the key's, or a VIP's owner (a service name).
     *
     * @throws ValidationException naming what does not parse or match
     */
    public static Object decode(KeyLayout.Key k, byte[] value) {
        switch (k.kind()) {
            case SERVICE -> {
                Service s = JsonCodec.decodeService(value);
                if (!s.name().equals(k.service())) {
                    throw new ValidationException("name", s.name(), "does not match the key's service '" + k.service() + "'");
                }
                return s;
            }
            case INSTANCE -> {
                Instance i = JsonCodec.decodeInstance(value);
                if (!i.service().equals(k.service()) || !i.id().equals(k.id())) {
                    throw new ValidationException("service/id", i.service() + "/" + i.id(),
                            "does not match the key's " + k.service() + "/" + k.id());
                }
                return i;
            }
            case NODE -> {
                Node n = JsonCodec.decodeNode(value);
                if (!n.name().equals(k.id())) {
                    throw new ValidationException("name", n.name(), "does not match the key's node '" + k.id() + "'");
                }
                return n;
            }
            default -> {
                String owner = new String(value, StandardCharsets.UTF_8);
                io.portolan.proto.Validate.serviceName("vip owner", owner);
                return owner;
            }
        }
    }

    /** The keys of everything held, as the layout spells them. */
    private Set<String> acceptedKeys() {
        Set<String> keys = new HashSet<>(vipOwners.keySet());
        services.keySet().forEach(s -> keys.add(layout.serviceKey(s)));
        instances.forEach((s, byId) -> byId.keySet().forEach(id -> keys.add(layout.instanceKey(s, id))));
        nodes.keySet().forEach(n -> keys.add(layout.nodeKey(n)));
        return keys;
    }

    private void warnOnce(String key, String why) {
        invalidValues.increment();
        rejected.add(key);
        log.warn("skipping registry key {}: {} (the previous value, if any, stays in force)", key, why);
    }

    private void scheduleBuild() {
        if (buildPending.compareAndSet(false, true)) {
            try {
                builder.execute(this::build);
            } catch (java.util.concurrent.RejectedExecutionException closed) {
                buildPending.set(false);
            }
        }
    }

    private void build() {
        buildPending.set(false);
        long t0 = System.nanoTime();
        ClusterSnapshot snapshot;
        synchronized (this) {
            if (!loaded || !pendingImports.isEmpty()) {
                return; // the first snapshot waits for every source: a name not yet listed is not "absent"
            }
            boolean nodesMoved = nodesChanged;
            if (nodesChanged) {
                nodesChanged = false;
                for (String service : imported.keySet()) {
                    if (resolveImported(service)) {
                        dirty.add(service);
                    }
                }
            }
            // Only the dirty services' instances are looked at, copied and sorted; the others are
            // shared with the previous snapshot (consumers see them unchanged by identity).
            java.util.Collection<String> names = dirty;
            if (last == null) {
                names = new java.util.HashSet<>(instances.keySet());
                names.addAll(importedView.keySet());
            }
            Map<String, java.util.Collection<Instance>> view = new HashMap<>(names.size() * 2);
            for (String name : names) {
                java.util.Collection<Instance> v = viewOf(name);
                if (v != null) {
                    view.put(name, v);
                }
            }
            // the same nodes map when none changed: the snapshot keeps its predecessor's without comparing
            snapshot = ClusterSnapshot.next(last, revision, services, view, last == null ? null : dirty,
                    nodesMoved || last == null ? nodes : last.nodes());
            dirty.clear();
            last = snapshot;
        }
        publisher.publish(snapshot);
        buildTimer.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
    }

    /** One service's instances as the snapshot serves them: registered, and imported ones of other ids; null when none. */
    private java.util.Collection<Instance> viewOf(String name) {
        Map<String, Instance> own = instances.get(name);
        Map<String, Instance> imp = importedView.get(name);
        if (imp == null) {
            return own == null ? null : own.values();
        }
        if (own == null) {
            return imp.values();
        }
        List<Instance> both = new java.util.ArrayList<>(own.values());
        for (Instance i : imp.values()) {
            if (!own.containsKey(i.id())) { // a registered instance wins over an imported one of the same id
                both.add(i);
            }
        }
        return both;
    }

    // ---- imported instances (importers: Dubbo's keys) ------------------------------------

    /**
     * An importer that will feed {@link #importInstances}: {@link #loaded()} stays false, and no snapshot is
     * published, until it calls {@link #importLoaded} after its first listing.
     */
    public synchronized void expectImport(String name) {
        pendingImports.add(name);
    }

    /** The importer {@code name} has applied its first listing. */
    public void importLoaded(String name) {
        synchronized (this) {
            if (!pendingImports.remove(name)) {
                return;
            }
        }
        scheduleBuild();
    }

    /**
     * Replaces the imported instances of each service named in {@code byService} (an empty collection
     * removes them). They exist in the snapshot only, merged with the registered ones (a registered
     * instance of the same id wins); each instance's node becomes the node whose advertise address is
     * the instance's address, when one is known, and stays as given otherwise.
     */
    public void importInstances(Map<String, ? extends java.util.Collection<Instance>> byService) {
        synchronized (this) {
            for (Map.Entry<String, ? extends java.util.Collection<Instance>> e : byService.entrySet()) {
                String service = e.getKey();
                if (e.getValue().isEmpty()) {
                    imported.remove(service);
                } else {
                    Map<String, Instance> byId = new HashMap<>();
                    for (Instance i : e.getValue()) {
                        byId.put(i.id(), i);
                    }
                    imported.put(service, byId);
                }
                resolveImported(service);
                dirty.add(service);
            }
        }
        scheduleBuild();
    }

    /** Recomputes one service's imported view from the nodes known now; true when it changed. */
    private boolean resolveImported(String service) {
        Map<String, Instance> given = imported.get(service);
        Map<String, Instance> before = importedView.get(service);
        if (given == null) {
            return importedView.remove(service) != null;
        }
        Map<java.net.InetAddress, String> nodeByAddress = new HashMap<>();
        for (Node n : nodes.values()) {
            nodeByAddress.merge(n.address(), n.name(), (a, b) -> a.compareTo(b) <= 0 ? a : b); // one address, two names: the first
        }
        Map<String, Instance> view = new HashMap<>(given.size() * 2);
        boolean changed = before == null || before.size() != given.size();
        for (Instance i : given.values()) {
            String node = nodeByAddress.getOrDefault(i.address(), i.node());
            Instance prev = before == null ? null : before.get(i.id());
            Instance v;
            if (prev != null && prev.node().equals(node) && sameButNode(prev, i)) {
                v = prev;
            } else {
                v = node.equals(i.node()) ? i : new Instance(i.id(), i.service(), node, i.address(), i.ports(), i.weight(), i.health(),
                        i.metadata(), i.registeredAt(), i.extras(), i.check(), i.healthReason());
                changed = true;
            }
            view.put(i.id(), v);
        }
        importedView.put(service, view);
        return changed;
    }

    private static boolean sameButNode(Instance a, Instance b) {
        return a.service().equals(b.service()) && a.address().equals(b.address()) && a.ports().equals(b.ports()) && a.weight() == b.weight()
                && a.health() == b.health() && a.metadata().equals(b.metadata()) && a.registeredAt().equals(b.registeredAt())
                && java.util.Objects.equals(a.healthReason(), b.healthReason());
    }

    /** The parsed values held, by key (see {@link #decode}; for tests and diagnostics). */
    public synchronized Map<String, Object> acceptedValues() {
        Map<String, Object> m = new HashMap<>();
        for (String key : acceptedKeys()) {
            m.put(key, held(layout.parse(key), key));
        }
        return m;
    }

    @Override
    public void close() {
        builder.shutdownNow();
    }
}
