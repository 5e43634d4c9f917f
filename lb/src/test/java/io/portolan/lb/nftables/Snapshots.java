package io.portolan.lb.nftables;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Snapshots built in memory for the nftables tests. */
final class Snapshots {
    private Snapshots() {
    }

    static Service service(String name, String vip, String scheduler, List<Port> ports, List<PublishedPort> published) {
        return new Service(name, Mode.VIP, ports, vip == null ? null : Validate.address("vip", vip), scheduler, published, null);
    }

    static Instance instance(String service, String id, String address, int weight, Port... ports) {
        return new Instance(id, service, "node1", Validate.address("address", address), List.of(ports), weight, Health.HEALTHY,
                Map.of(), null, null);
    }

    /** Collects services and instances into a snapshot at a revision. */
    static final class Builder {
        private final Map<String, Service> services = new TreeMap<>();
        private final Map<String, List<Instance>> instances = new TreeMap<>();

        Builder service(Service s) {
            services.put(s.name(), s);
            return this;
        }

        Builder instance(Instance i) {
            instances.computeIfAbsent(i.service(), k -> new ArrayList<>()).add(i);
            return this;
        }

        Builder without(String service, String id) {
            instances.getOrDefault(service, new ArrayList<>()).removeIf(i -> i.id().equals(id));
            return this;
        }

        ClusterSnapshot build(long revision) {
            return new ClusterSnapshot(revision, services, instances);
        }
    }

    static final Port HTTP = new Port("http", 80, io.portolan.proto.Protocol.TCP);
    static final Port HTTP_8080 = new Port("http", 8080, io.portolan.proto.Protocol.TCP);

    /** The golden snapshot: weighted, UDP, sh, published, dnsrr, no instances. */
    static Builder golden() {
        Builder b = new Builder()
                .service(service("web", "10.96.0.10", "wrr", List.of(HTTP), List.of(new PublishedPort(8080, 8080, null))))
                .instance(instance("web", "a", "10.1.0.1", 100, HTTP_8080))
                .instance(instance("web", "b", "10.1.0.2", 100, HTTP_8080))
                .instance(instance("web", "c", "10.1.0.3", 200, HTTP_8080))
                .service(service("dns", "10.96.0.53", "rr", List.of(new Port("", 53, io.portolan.proto.Protocol.UDP)), null))
                .instance(instance("dns", "d1", "10.1.1.1", 100))
                .instance(instance("dns", "d2", "10.1.1.2", 100))
                .service(service("api", "10.96.0.20", "sh", List.of(new Port("https", 443, null)), null))
                .instance(instance("api", "x", "10.1.2.1", 100, new Port("https", 8443, null)))
                .instance(instance("api", "y", "10.1.2.2", 100, new Port("https", 8443, null)))
                .service(new Service("db", Mode.DNSRR, List.of(new Port("", 5432, null)), null, null, null, null))
                .instance(instance("db", "p1", "10.1.3.1", 100))
                .service(service("empty", "10.96.0.30", "wrr", List.of(HTTP), null));
        return b;
    }
}
