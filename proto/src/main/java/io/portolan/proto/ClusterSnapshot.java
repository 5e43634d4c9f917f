package io.portolan.proto;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * An immutable view of the cluster at one registry revision: services by name, instances by
 * service (sorted by id), and an index by address for PTR look-ups. Built once per change and
 * published to every consumer; reading it never locks.
 *
 * <p>Snapshots built with {@link #next} share what did not change with their predecessor: an
 * unchanged service keeps the same {@link Service} object and the same instance lists, so a
 * consumer finds what changed by identity ({@link #changedServices}) instead of comparing
 * everything.
 *
 * <p>Instances whose service is not (yet) defined are kept in {@link #instancesByService()} so the
 * snapshot mirrors the registry, but they are not answered by anything that needs the service.
 */
public final class ClusterSnapshot {
    /** Numbers every snapshot (before {@link #EMPTY}: its constructor uses it). */
    private static final java.util.concurrent.atomic.AtomicLong SEQUENCE = new java.util.concurrent.atomic.AtomicLong();
    public static final ClusterSnapshot EMPTY = new ClusterSnapshot(0, Map.of(), Map.of());

    private static final Comparator<Instance> BY_ID = Comparator.comparing(Instance::id);

    /** How many predecessors {@link #changedSince} can reach back through before it gives up. */
    static final int DELTA_DEPTH = 16;

    /**
     * The names changed from the snapshot numbered {@code from} to this one's predecessor chain:
     * {@code older} reaches further back (null where the chain was cut, every {@link #DELTA_DEPTH}
     * steps, so the chain never holds more than that many sets).
     */
    private record Delta(long from, Set<String> names, Delta older, int depth) {
    }

    private final long seq = SEQUENCE.incrementAndGet();
    private final Delta delta;
    private final long revision;
    private final Map<String, Service> services;
    /** The instances by service: {@link #instances} is its read-only view (a successor copies it in linear time). */
    private final TreeMap<String, List<Instance>> sortedInstances;
    private final Map<String, List<Instance>> instances;
    private final Map<String, List<Instance>> serving;
    private final int instanceCount;
    private final Map<String, Node> nodes;
    private volatile Map<InetAddress, List<AddressOwner>> byAddress;

    public ClusterSnapshot(long revision, Map<String, Service> services, Map<String, ? extends Collection<Instance>> instances) {
        this(null, revision, services, instances, null, Map.of());
    }

    /**
     * The snapshot after {@code previous}: {@code services} and {@code instances} are the complete
     * new state, but only the services named in {@code changed} are re-sorted and re-frozen; the
     * others reuse {@code previous}'s lists as they are.
     */
    public static ClusterSnapshot next(ClusterSnapshot previous, long revision, Map<String, Service> services,
                                       Map<String, ? extends Collection<Instance>> instances, Set<String> changed) {
        return new ClusterSnapshot(previous, revision, services, instances, changed, previous == null ? Map.of() : previous.nodes);
    }

    /** {@link #next}, with the nodes (agents) known at this revision. */
    public static ClusterSnapshot next(ClusterSnapshot previous, long revision, Map<String, Service> services,
                                       Map<String, ? extends Collection<Instance>> instances, Set<String> changed, Map<String, Node> nodes) {
        return new ClusterSnapshot(previous, revision, services, instances, changed, nodes);
    }

    private ClusterSnapshot(ClusterSnapshot previous, long revision, Map<String, Service> services,
                            Map<String, ? extends Collection<Instance>> instances, Set<String> changed, Map<String, Node> nodes) {
        this.revision = revision;
        this.nodes = previous != null && previous.nodes.equals(nodes) ? previous.nodes : Collections.unmodifiableMap(new TreeMap<>(nodes));
        if (previous != null && changed != null) {
            Delta older = previous.delta;
            int depth = older == null ? 0 : older.depth + 1;
            this.delta = new Delta(previous.seq, Set.copyOf(changed), depth >= DELTA_DEPTH ? null : older, depth >= DELTA_DEPTH ? 0 : depth);
        } else {
            this.delta = null;
        }
        boolean incremental = previous != null && changed != null;
        this.services = incremental && sameServices(previous.services, services, changed) ? previous.services
                : Collections.unmodifiableMap(new TreeMap<>(services));
        TreeMap<String, List<Instance>> byService;
        Map<String, List<Instance>> servingByService;
        int count;
        if (incremental) {
            // only the changed services are looked at: the maps are copied (linear, no comparison) and those replaced
            byService = new TreeMap<>(previous.sortedInstances);
            servingByService = new HashMap<>(previous.serving);
            count = previous.instanceCount;
            for (String name : changed) {
                List<Instance> old = byService.remove(name);
                servingByService.remove(name);
                if (old != null) {
                    count -= old.size();
                }
                Collection<Instance> now = instances.get(name);
                if (now != null && !now.isEmpty()) {
                    count += add(name, now, byService, servingByService);
                }
            }
        } else {
            byService = new TreeMap<>();
            servingByService = new HashMap<>();
            count = 0;
            for (Map.Entry<String, ? extends Collection<Instance>> e : instances.entrySet()) {
                if (!e.getValue().isEmpty()) {
                    count += add(e.getKey(), e.getValue(), byService, servingByService);
                }
            }
        }
        this.sortedInstances = byService;
        this.instances = Collections.unmodifiableMap(byService);
        this.serving = servingByService;
        this.instanceCount = count;
    }

    /** Whether {@code services} holds what {@code before} held, given that only the names in {@code changed} may differ. */
    private static boolean sameServices(Map<String, Service> before, Map<String, Service> services, Set<String> changed) {
        if (before.size() != services.size()) {
            return false;
        }
        for (String name : changed) {
            if (before.get(name) != services.get(name)) {
                return false;
            }
        }
        return true;
    }

    /** Puts one service's instances, sorted by id, and those served; returns how many. */
    private static int add(String name, Collection<Instance> given, Map<String, List<Instance>> byService,
                           Map<String, List<Instance>> servingByService) {
        List<Instance> list = new ArrayList<>(given);
        list.sort(BY_ID); // linear when given in order (a sorted map's values)
        List<Instance> frozen = List.copyOf(list);
        List<Instance> u = new ArrayList<>(frozen.size());
        for (Instance i : frozen) {
            if (i.serving()) {
                u.add(i);
            }
        }
        if (u.isEmpty()) {
            // panic threshold: every instance with traffic allowed is unhealthy, so a check is more
            // likely wrong than all of them: serve them all rather than none
            for (Instance i : frozen) {
                if (i.weight() > 0) {
                    u.add(i);
                }
            }
        }
        byService.put(name, frozen);
        servingByService.put(name, u.size() == frozen.size() ? frozen : List.copyOf(u));
        return frozen.size();
    }

    public long revision() {
        return revision;
    }

    /** The hosts whose agents are up, by name, with their advertise addresses. */
    public Map<String, Node> nodes() {
        return nodes;
    }

    public Map<String, Service> services() {
        return services;
    }

    public Optional<Service> service(String name) {
        return Optional.ofNullable(services.get(name));
    }

    /** All instances registered under a service name, sorted by id (empty if none). */
    public List<Instance> instances(String service) {
        return instances.getOrDefault(service, List.of());
    }

    /** The instances that get traffic and DNS answers: healthy and weight above zero, sorted by id. */
    /**
     * Whether every instance of {@code service} with a weight above zero is unhealthy: then all of
     * them are served (a panic threshold, as Envoy's), so that a wrong check cannot take a whole
     * service down.
     */
    public boolean panicking(String service) {
        List<Instance> up = serving.get(service);
        return up != null && !up.isEmpty() && !up.get(0).serving();
    }

    /**
     * The instances answered and given traffic: healthy with a weight above zero, or, when every
     * instance with a weight above zero is unhealthy, all of those ({@link #panicking}).
     */
    public List<Instance> servingInstances(String service) {
        return serving.getOrDefault(service, List.of());
    }

    public Map<String, List<Instance>> instancesByService() {
        return instances;
    }

    /** VIPs and instances at an address (PTR); empty when none. The index is built on first use. */
    public List<AddressOwner> byAddress(InetAddress address) {
        Map<InetAddress, List<AddressOwner>> index = byAddress;
        if (index == null) {
            index = buildAddressIndex();
            byAddress = index;
        }
        return index.getOrDefault(address, List.of());
    }

    private Map<InetAddress, List<AddressOwner>> buildAddressIndex() {
        Map<InetAddress, List<AddressOwner>> index = new HashMap<>();
        for (Map.Entry<String, List<Instance>> e : instances.entrySet()) {
            Service svc = services.get(e.getKey());
            if (svc == null) {
                continue;
            }
            for (Instance i : e.getValue()) {
                index.computeIfAbsent(i.address(), k -> new ArrayList<>(1)).add(new AddressOwner(svc, i));
            }
        }
        for (Service s : services.values()) {
            if (s.vip() != null) {
                index.computeIfAbsent(s.vip(), k -> new ArrayList<>(1)).add(new AddressOwner(s, null));
            }
        }
        index.replaceAll((k, v) -> List.copyOf(v));
        return index;
    }

    public int instanceCount() {
        return instanceCount;
    }

    /**
     * Names of the services whose definition or instances differ from {@code previous}'s, by
     * identity: exact for snapshots built with {@link #next} (from {@link #changedSince} when the
     * chain reaches {@code previous}, the names given to {@code next}; else by walking every name), a
     * superset otherwise. All names when {@code previous} is null.
     */
    public Set<String> changedServices(ClusterSnapshot previous) {
        Set<String> known = changedSince(previous);
        if (known != null) {
            return new HashSet<>(known);
        }
        Set<String> names = new HashSet<>(services.keySet());
        names.addAll(instances.keySet());
        if (previous == null) {
            return names;
        }
        names.addAll(previous.services.keySet());
        names.addAll(previous.instances.keySet());
        names.removeIf(n -> previous.services.get(n) == services.get(n) && previous.instances.get(n) == instances.get(n));
        return names;
    }

    /**
     * The names of the services that may differ from {@code previous}'s (the registry's dirty names:
     * a superset of what {@link #changedServices} finds by identity), at the cost of the changes
     * only, not of the cluster's size; or null when this snapshot was not built from {@code previous} by a
     * chain of {@link #next} calls of at most {@link #DELTA_DEPTH} steps (the caller then compares
     * by identity itself). An empty set means nothing changed.
     */
    public Set<String> changedSince(ClusterSnapshot previous) {
        if (previous == this) {
            return Set.of();
        }
        if (previous == null) {
            return null;
        }
        Set<String> union = null;
        for (Delta d = delta; d != null; d = d.older) {
            if (union == null) {
                union = d.names;
            } else {
                Set<String> u = new HashSet<>(union);
                u.addAll(d.names);
                union = u;
            }
            if (d.from == previous.seq) {
                return Collections.unmodifiableSet(union);
            }
            if (d.from < previous.seq) {
                return null;
            }
        }
        return null;
    }

    @Override
    public String toString() {
        return "ClusterSnapshot{revision=" + revision + ", services=" + services.size() + ", instances=" + instanceCount + "}";
    }
}
