package io.portolan.proto;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * What a registrant asks for: an instance of a service (created with {@code mode} and the
 * instance's ports if it does not exist yet), kept alive for {@code ttlSeconds} after the last
 * heartbeat or lease keep-alive. {@code id} and {@code node} may be null: the registry fills them.
 */
public record Registration(String service, String id, String node, InetAddress address, List<Port> ports, Mode mode,
                           int weight, int ttlSeconds, Map<String, String> metadata, String scheduler,
                           List<PublishedPort> publishedPorts) {
    /** Without a scheduler or published ports (the service's defaults). */
    public Registration(String service, String id, String node, InetAddress address, List<Port> ports, Mode mode,
                        int weight, int ttlSeconds, Map<String, String> metadata) {
        this(service, id, node, address, ports, mode, weight, ttlSeconds, metadata, null, List.of());
    }

    public Registration {
        Validate.serviceName("service", service);
        if (id != null) {
            Validate.id("id", id);
        }
        if (node != null) {
            Validate.id("node", node);
        }
        if (address == null) {
            throw new ValidationException("address", null, "an IPv4 or IPv6 address is required");
        }
        ports = ports == null ? List.of() : List.copyOf(ports);
        if (ports.isEmpty()) {
            throw new ValidationException("port", null, "at least one --port is required");
        }
        for (int i = 0; i < ports.size(); i++) {
            for (int j = i + 1; j < ports.size(); j++) {
                Port a = ports.get(i);
                Port b = ports.get(j);
                if (!a.name().isEmpty() && a.name().equals(b.name()) && a.protocol() == b.protocol()) {
                    throw new ValidationException("port", b.toString(), "port name '" + a.name() + "' is given twice");
                }
            }
        }
        if (mode == null) {
            mode = Mode.VIP;
        }
        Validate.weight("weight", weight);
        Validate.ttl("ttl", ttlSeconds);
        metadata = Validate.metadata("metadata", metadata);
        if (scheduler != null) {
            Validate.scheduler("scheduler", scheduler);
        }
        publishedPorts = publishedPorts == null ? List.of() : List.copyOf(publishedPorts);
    }

    public Registration withId(String newId) {
        return new Registration(service, newId, node, address, ports, mode, weight, ttlSeconds, metadata, scheduler, publishedPorts);
    }

    public Registration withNode(String newNode) {
        return new Registration(service, id, newNode, address, ports, mode, weight, ttlSeconds, metadata, scheduler, publishedPorts);
    }

    /**
     * The service this registration creates when none exists: the instance's ports become the
     * service's, with the given scheduler (else the default) and published ports.
     */
    public Service impliedService() {
        return new Service(service, mode, ports, null, scheduler, publishedPorts, Extras.NONE);
    }

    public Instance toInstance(java.time.Instant now) {
        if (id == null || node == null) {
            throw new IllegalStateException("id and node are assigned before an instance is stored");
        }
        return new Instance(id, service, node, address, ports, weight, Health.HEALTHY, metadata, now, Extras.NONE);
    }
}
