package io.portolan.agent.registry;

import io.portolan.proto.Port;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;
import io.portolan.proto.ValidationException;

import java.util.ArrayList;
import java.util.List;

/** Rules shared by both stores for turning a registration's implied service into the stored one. */
public final class Services {
    private Services() {
    }

    /**
     * The stored service after a registration that implies {@code wanted}: unchanged when it already
     * has every wanted port; with the missing ports added otherwise. A different mode is a conflict.
     */
    public static Service merge(Service stored, Service wanted) {
        if (stored.mode() != wanted.mode()) {
            throw new ValidationException("mode", wanted.mode().lower(),
                    "service '" + stored.name() + "' exists in " + stored.mode().lower()
                            + " mode; register with --mode " + stored.mode().lower() + " or delete the service first");
        }
        List<Port> ports = new ArrayList<>(stored.ports());
        boolean changed = false;
        for (Port p : wanted.ports()) {
            if (!hasPort(ports, p)) {
                ports.add(p);
                changed = true;
            }
        }
        List<PublishedPort> published = new ArrayList<>(stored.publishedPorts());
        for (PublishedPort p : wanted.publishedPorts()) {
            if (!published.contains(p)) {
                published.add(p);
                changed = true;
            }
        }
        return changed ? new Service(stored.name(), stored.mode(), ports, stored.vip(), stored.scheduler(), published, stored.extras()) : stored;
    }

    private static boolean hasPort(List<Port> ports, Port p) {
        for (Port q : ports) {
            if (q.protocol() == p.protocol()
                    && (p.name().isEmpty() ? q.number() == p.number() : p.name().equals(q.name()))) {
                return true;
            }
        }
        return false;
    }
}
