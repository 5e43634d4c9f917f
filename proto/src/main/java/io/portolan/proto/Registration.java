package io.portolan.proto;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * What a registrant asks for: an instance of a service (created with {@code mode} and the
 * instance's ports if it does not exist yet), kept alive for {@code ttlSeconds} after the last
 * heartbeat or lease keep-alive. {@code id} and {@code node} may be null: the registry fills them.
 * {@code address} may be null when registering through an agent, which fills it (the request's
 * source address, or the agent's advertise address).
 *
 * <p>{@code hostPorts} maps a port's name to the port the node maps to it (as {@code docker run -p
 * HOSTPORT:PORT} does): the instance is then reached at the node's advertise address on those
 * ports, while the service keeps the ports as given (a VIP on port 8080 reaches {@code ADVERTISE:32768}).
 */
public record Registration(String service, String id, String node, InetAddress address, List<Port> ports, Mode mode,
                           int weight, int ttlSeconds, Map<String, String> metadata, String scheduler,
                           List<PublishedPort> publishedPorts, Map<String, Integer> hostPorts, Check check) {
    /** Without a check. */
    public Registration(String service, String id, String node, InetAddress address, List<Port> ports, Mode mode,
                        int weight, int ttlSeconds, Map<String, String> metadata, String scheduler,
                        List<PublishedPort> publishedPorts, Map<String, Integer> hostPorts) {
        this(service, id, node, address, ports, mode, weight, ttlSeconds, metadata, scheduler, publishedPorts, hostPorts, null);
    }

    /** Without host ports. */
    public Registration(String service, String id, String node, InetAddress address, List<Port> ports, Mode mode,
                        int weight, int ttlSeconds, Map<String, String> metadata, String scheduler,
                        List<PublishedPort> publishedPorts) {
        this(service, id, node, address, ports, mode, weight, ttlSeconds, metadata, scheduler, publishedPorts, Map.of());
    }

    /** Without a scheduler, published ports or host ports (the service's defaults). */
    public Registration(String service, String id, String node, InetAddress address, List<Port> ports, Mode mode,
                        int weight, int ttlSeconds, Map<String, String> metadata) {
        this(service, id, node, address, ports, mode, weight, ttlSeconds, metadata, null, List.of(), Map.of());
    }

    public Registration {
        Validate.serviceName("service", service);
        if (id != null) {
            Validate.id("id", id);
        }
        if (node != null) {
            Validate.id("node", node);
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
        hostPorts = hostPorts == null ? Map.of() : Map.copyOf(new java.util.TreeMap<>(hostPorts));
        for (Map.Entry<String, Integer> h : hostPorts.entrySet()) {
            String spec = h.getKey() + ":" + h.getValue();
            Validate.port("host-port", h.getValue() == null ? 0 : h.getValue());
            if (ports.stream().noneMatch(p -> p.name().equals(h.getKey()))) {
                throw new ValidationException("host-port", spec, "names no port of this registration; name the port (--port "
                        + h.getKey() + ":PORT) to map it");
            }
        }
    }

    /** Whether every port has a host port (the instance lives at the node's address). */
    public boolean everyPortMapped() {
        return !hostPorts.isEmpty() && ports.stream().allMatch(p -> hostPorts.containsKey(p.name()));
    }

    public Registration withAddress(InetAddress newAddress) {
        return new Registration(service, id, node, newAddress, ports, mode, weight, ttlSeconds, metadata, scheduler, publishedPorts, hostPorts, check);
    }

    public Registration withId(String newId) {
        return new Registration(service, newId, node, address, ports, mode, weight, ttlSeconds, metadata, scheduler, publishedPorts, hostPorts, check);
    }

    public Registration withNode(String newNode) {
        return new Registration(service, id, newNode, address, ports, mode, weight, ttlSeconds, metadata, scheduler, publishedPorts, hostPorts, check);
    }

    /**
     * The service this registration creates when none exists: the instance's ports become the
     * service's, with the given scheduler (else the default) and published ports.
     */
    public Service impliedService() {
        return new Service(service, mode, ports, null, scheduler, publishedPorts, Extras.NONE);
    }

    public Instance toInstance(java.time.Instant now) {
        if (id == null || node == null || address == null) {
            throw new IllegalStateException("id, node and address are assigned before an instance is stored");
        }
        List<Port> reached = ports;
        if (!hostPorts.isEmpty()) {
            reached = ports.stream().map(p -> hostPorts.containsKey(p.name()) ? new Port(p.name(), hostPorts.get(p.name()), p.protocol()) : p)
                    .toList();
        }
        return new Instance(id, service, node, address, reached, weight, Health.HEALTHY, metadata, now, Extras.NONE, check, null);
    }
}
