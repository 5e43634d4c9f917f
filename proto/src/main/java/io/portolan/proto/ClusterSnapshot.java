package io.portolan.proto;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * An immutable view of the cluster at one registry revision: services by name, instances by
 * service (sorted by id), and an index by address for PTR look-ups. Built once per change and
 * published to every consumer; reading it never locks.
 *
 * <p>Instances whose service is not (yet) defined are kept in {@link #instancesByService()} so the
 * snapshot mirrors the registry, but they are not answered by anything that needs the service.
 */
public final class ClusterSnapshot {
    public static final ClusterSnapshot EMPTY = new ClusterSnapshot(0, Map.of(), Map.of());

    private static final Comparator<Instance> BY_ID = Comparator.comparing(Instance::id);

    private final long revision;
    private final Map<String, Service> services;
    private final Map<String, List<Instance>> instances;
    private final Map<String, List<Instance>> serving;
    private final Map<InetAddress, List<AddressOwner>> byAddress;
    private final int instanceCount;

    public ClusterSnapshot(long revision, Map<String, Service> services, Map<String, ? extends Collection<Instance>> instances) {
        this.revision = revision;
        this.services = Collections.unmodifiableMap(new TreeMap<>(services));
        Map<String, List<Instance>> byService = new TreeMap<>();
        Map<String, List<Instance>> servingByService = new HashMap<>();
        Map<InetAddress, List<AddressOwner>> index = new HashMap<>();
        int count = 0;
        for (Map.Entry<String, ? extends Collection<Instance>> e : instances.entrySet()) {
            if (e.getValue().isEmpty()) {
                continue;
            }
            List<Instance> list = new ArrayList<>(e.getValue());
            list.sort(BY_ID);
            List<Instance> frozen = List.copyOf(list);
            byService.put(e.getKey(), frozen);
            count += frozen.size();
            Service svc = this.services.get(e.getKey());
            List<Instance> up = new ArrayList<>(frozen.size());
            for (Instance i : frozen) {
                if (i.serving()) {
                    up.add(i);
                }
                if (svc != null) {
                    index.computeIfAbsent(i.address(), k -> new ArrayList<>(1)).add(new AddressOwner(svc, i));
                }
            }
            servingByService.put(e.getKey(), List.copyOf(up));
        }
        for (Service s : this.services.values()) {
            if (s.vip() != null) {
                index.computeIfAbsent(s.vip(), k -> new ArrayList<>(1)).add(new AddressOwner(s, null));
            }
        }
        index.replaceAll((k, v) -> List.copyOf(v));
        this.instances = Collections.unmodifiableMap(byService);
        this.serving = servingByService;
        this.byAddress = index;
        this.instanceCount = count;
    }

    public long revision() {
        return revision;
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
    public List<Instance> servingInstances(String service) {
        return serving.getOrDefault(service, List.of());
    }

    public Map<String, List<Instance>> instancesByService() {
        return instances;
    }

    /** VIPs and instances at an address (PTR); empty when none. */
    public List<AddressOwner> byAddress(InetAddress address) {
        return byAddress.getOrDefault(address, List.of());
    }

    public int instanceCount() {
        return instanceCount;
    }

    @Override
    public String toString() {
        return "ClusterSnapshot{revision=" + revision + ", services=" + services.size() + ", instances=" + instanceCount + "}";
    }
}
