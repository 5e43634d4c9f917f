package io.portolan.lb.ipvs;

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
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Builds snapshots in memory for the ipvs tests. */
final class Snapshots {
    private final Map<String, Service> services = new TreeMap<>();
    private final Map<String, List<Instance>> instances = new TreeMap<>();
    /** Names changed since the last build: the next one is built from it by ClusterSnapshot.next, as the registry does. */
    private final java.util.Set<String> touched = new java.util.HashSet<>();
    private ClusterSnapshot last;

    static InetAddress ip(String s) {
        return Validate.address("test", s);
    }

    Snapshots service(String name, String vip, String scheduler, List<Port> ports, PublishedPort... published) {
        touched.add(name);
        services.put(name, new Service(name, vip == null ? Mode.DNSRR : Mode.VIP, ports, vip == null ? null : ip(vip), scheduler,
                List.of(published), null));
        return this;
    }

    Snapshots instance(String service, String id, String address, int weight, Health health, Port... ports) {
        touched.add(service);
        instances.computeIfAbsent(service, k -> new ArrayList<>())
                .add(new Instance(id, service, "node1", ip(address), List.of(ports), weight, health, Map.of(), null, null));
        return this;
    }

    Snapshots instance(String service, String id, String address, Port... ports) {
        return instance(service, id, address, 100, Health.HEALTHY, ports);
    }

    Snapshots remove(String service, String id) {
        touched.add(service);
        instances.get(service).removeIf(i -> i.id().equals(id));
        return this;
    }

    ClusterSnapshot build(long revision) {
        Map<String, List<Instance>> copy = new TreeMap<>();
        instances.forEach((k, v) -> copy.put(k, List.copyOf(v)));
        last = last == null ? new ClusterSnapshot(revision, services, copy)
                : ClusterSnapshot.next(last, revision, services, copy, java.util.Set.copyOf(touched));
        touched.clear();
        return last;
    }

    static Port tcp(String name, int port) {
        return new Port(name, port, io.portolan.proto.Protocol.TCP);
    }

    static Port udp(String name, int port) {
        return new Port(name, port, io.portolan.proto.Protocol.UDP);
    }
}
