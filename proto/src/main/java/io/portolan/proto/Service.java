package io.portolan.proto;

import java.net.InetAddress;
import java.util.List;

/**
 * A service definition, stored as a plain etcd key. {@code vip} is null until one is allocated
 * and always null in {@code dnsrr} mode.
 */
public record Service(String name, Mode mode, List<Port> ports, InetAddress vip, String scheduler,
                      List<PublishedPort> publishedPorts, Extras extras) {
    public static final String DEFAULT_SCHEDULER = "wrr";

    public Service {
        Validate.serviceName("service", name);
        if (mode == null) {
            mode = Mode.VIP;
        }
        ports = ports == null ? List.of() : List.copyOf(ports);
        publishedPorts = publishedPorts == null ? List.of() : List.copyOf(publishedPorts);
        scheduler = Validate.scheduler("scheduler", scheduler == null ? DEFAULT_SCHEDULER : scheduler);
        if (mode == Mode.DNSRR && vip != null) {
            throw new ValidationException("vip", vip.getHostAddress(), "a dnsrr service has no VIP");
        }
        if (extras == null) {
            extras = Extras.NONE;
        }
    }

    public Service withVip(InetAddress newVip) {
        return new Service(name, mode, ports, newVip, scheduler, publishedPorts, extras);
    }

    public Service withPorts(List<Port> newPorts) {
        return new Service(name, mode, newPorts, vip, scheduler, publishedPorts, extras);
    }
}
