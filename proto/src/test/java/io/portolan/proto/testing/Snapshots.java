package io.portolan.proto.testing;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds {@link ClusterSnapshot}s in memory for tests. Ports are written as on the command line
 * ({@code [NAME:]PORT[/tcp|/udp]}, published ports {@code PUBLISHED:TARGET[/tcp|/udp]}); instances
 * have weight 100, are healthy and run on {@code node-1} unless told otherwise. The builder stays
 * usable after {@link #build}: change it and build the next revision.
 */
public final class Snapshots {
    private final boolean incremental;
    private final Map<String, Service> services = new LinkedHashMap<>();
    private final Map<String, List<Instance>> instances = new LinkedHashMap<>();
    /** Names changed since the last build (what an incremental builder passes to {@link ClusterSnapshot#next}). */
    private final Set<String> touched = new HashSet<>();
    private String node = "node-1";
    private String lastService;
    private ClusterSnapshot last;

    private Snapshots(boolean incremental) {
        this.incremental = incremental;
    }

    /** A builder whose every {@link #build} is a snapshot of its own, sharing nothing with the earlier ones. */
    public static Snapshots builder() {
        return new Snapshots(false);
    }

    /**
     * A builder whose every {@link #build} after the first is {@link ClusterSnapshot#next} of the one
     * before, naming the services changed in between, as the registry builds them.
     */
    public static Snapshots incremental() {
        return new Snapshots(true);
    }

    /** An address literal; never resolved. */
    public static InetAddress ip(String s) {
        return Validate.address("address", s);
    }

    /** A service in VIP mode; {@code vip} null is one not allocated yet. */
    public Snapshots vip(String name, String vip, String... ports) {
        return service(new Service(name, Mode.VIP, ports(ports), vip == null ? null : ip(vip), null, null, null));
    }

    /** A service in DNS round-robin mode. */
    public Snapshots dnsrr(String name, String... ports) {
        return service(new Service(name, Mode.DNSRR, ports(ports), null, null, null, null));
    }

    /** A service as it is, replacing any of the same name (its instances stay). */
    public Snapshots service(Service s) {
        services.put(s.name(), s);
        touched.add(s.name());
        lastService = s.name();
        return this;
    }

    /** The scheduler of the service added last. */
    public Snapshots scheduler(String scheduler) {
        Service s = lastService();
        return service(new Service(s.name(), s.mode(), s.ports(), s.vip(), scheduler, s.publishedPorts(), s.extras()));
    }

    /** The published ports of the service added last. */
    public Snapshots published(String... specs) {
        List<PublishedPort> published = new ArrayList<>();
        for (String spec : specs) {
            published.add(PublishedPort.parse("published port", spec));
        }
        Service s = lastService();
        return service(new Service(s.name(), s.mode(), s.ports(), s.vip(), s.scheduler(), published, s.extras()));
    }

    /** The node of the instances added from now on. */
    public Snapshots node(String node) {
        this.node = node;
        return this;
    }

    /** A healthy instance of weight 100. */
    public Snapshots instance(String service, String id, String address, String... ports) {
        return instance(service, id, address, 100, Health.HEALTHY, ports);
    }

    public Snapshots instance(String service, String id, String address, int weight, Health health, String... ports) {
        return instance(new Instance(id, service, node, ip(address), ports(ports), weight, health, null, null, null));
    }

    /** An instance as it is, under its service. */
    public Snapshots instance(Instance i) {
        instances.computeIfAbsent(i.service(), k -> new ArrayList<>()).add(i);
        touched.add(i.service());
        return this;
    }

    /** Removes the instance {@code id} of {@code service}. */
    public Snapshots remove(String service, String id) {
        instances.get(service).removeIf(i -> i.id().equals(id));
        touched.add(service);
        return this;
    }

    public ClusterSnapshot build(long revision) {
        last = incremental && last != null ? ClusterSnapshot.next(last, revision, services, instances, Set.copyOf(touched))
                : new ClusterSnapshot(revision, services, instances);
        touched.clear();
        return last;
    }

    private Service lastService() {
        if (lastService == null) {
            throw new IllegalStateException("no service added yet");
        }
        return services.get(lastService);
    }

    private static List<Port> ports(String... specs) {
        List<Port> out = new ArrayList<>();
        for (String spec : specs) {
            out.add(Port.parse("port", spec));
        }
        return out;
    }
}
