package io.portolan.dns.testing;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** In-memory snapshots for tests. */
public final class Snapshots {
    private final Map<String, Service> services = new LinkedHashMap<>();
    private final Map<String, List<Instance>> instances = new LinkedHashMap<>();

    public static Snapshots builder() {
        return new Snapshots();
    }

    public Snapshots vip(String name, String vip, String... ports) {
        services.put(name, new Service(name, Mode.VIP, ports(ports), vip == null ? null : ip(vip), null, null, null));
        return this;
    }

    public Snapshots dnsrr(String name, String... ports) {
        services.put(name, new Service(name, Mode.DNSRR, ports(ports), null, null, null, null));
        return this;
    }

    public Snapshots instance(String service, String id, String address, String... ports) {
        return instance(service, id, address, 100, Health.HEALTHY, ports);
    }

    public Snapshots instance(String service, String id, String address, int weight, Health health, String... ports) {
        instances.computeIfAbsent(service, k -> new ArrayList<>())
                .add(new Instance(id, service, "node-1", ip(address), ports(ports), weight, health, null, null, null));
        return this;
    }

    public ClusterSnapshot build(long revision) {
        return new ClusterSnapshot(revision, services, instances);
    }

    static List<Port> ports(String... specs) {
        List<Port> out = new ArrayList<>();
        for (String s : specs) {
            out.add(Port.parse("port", s));
        }
        return out;
    }

    public static InetAddress ip(String s) {
        return Validate.address("address", s);
    }
}
