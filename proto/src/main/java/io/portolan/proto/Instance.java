package io.portolan.proto;

import java.net.InetAddress;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * One running instance of a service, stored under an etcd lease. {@code check} (may be null) is run
 * by the agent on the instance's node, which writes the outcome to {@code health}, with the last
 * failure's {@code healthReason} while it is unhealthy.
 */
public record Instance(String id, String service, String node, InetAddress address, List<Port> ports,
                       int weight, Health health, Map<String, String> metadata, Instant registeredAt,
                       Extras extras, Check check, String healthReason) {
    /** Without a check. */
    public Instance(String id, String service, String node, InetAddress address, List<Port> ports, int weight, Health health,
                    Map<String, String> metadata, Instant registeredAt, Extras extras) {
        this(id, service, node, address, ports, weight, health, metadata, registeredAt, extras, null, null);
    }

    public Instance {
        Validate.id("id", id);
        Validate.serviceName("service", service);
        Validate.id("node", node);
        if (address == null) {
            throw new ValidationException("address", null, "an IPv4 or IPv6 address is required");
        }
        ports = ports == null ? List.of() : List.copyOf(ports);
        Validate.weight("weight", weight);
        if (health == null) {
            health = Health.HEALTHY;
        }
        metadata = Validate.metadata("metadata", metadata);
        if (registeredAt == null) {
            registeredAt = Instant.EPOCH;
        }
        if (extras == null) {
            extras = Extras.NONE;
        }
        if (healthReason != null && healthReason.length() > 512) {
            healthReason = healthReason.substring(0, 509) + "...";
        }
    }

    /** The same instance with {@code newHealth} and the reason for it (null when healthy). */
    public Instance withHealth(Health newHealth, String reason) {
        return new Instance(id, service, node, address, ports, weight, newHealth, metadata, registeredAt, extras, check,
                newHealth == Health.HEALTHY ? null : reason);
    }

    /** Answered by DNS and given traffic: healthy with a weight above zero. */
    public boolean serving() {
        return health == Health.HEALTHY && weight > 0;
    }

    /** The instance's port for a service port: by name when the service port is named, else by number. */
    public Port portFor(Port servicePort) {
        for (Port p : ports) {
            if (p.protocol() == servicePort.protocol()
                    && (servicePort.name().isEmpty() ? p.number() == servicePort.number() : p.name().equals(servicePort.name()))) {
                return p;
            }
        }
        return null;
    }
}
