package io.portolan.client;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What to register: one instance of a service, built in one expression.
 *
 * <pre>{@code
 * Service.named("web")
 *        .port("http", 8080)          // the port this instance listens on; also the service's port behind its VIP
 *        .ttl(Duration.ofSeconds(10)) // gone this long after the last heartbeat (a killed JVM)
 *        .metadata("version", "1.4.2")
 * }</pre>
 *
 * <p>A {@code Service} is immutable: every method returns a new one, so a value can be kept,
 * shared and extended. Every method checks its arguments at once, with the agent's rules, and
 * throws {@link IllegalArgumentException} naming the offending value (README, "Value rules").
 * The first registration of a service creates it with its mode and ports; later ones add the ports
 * it lacks.
 */
public final class Service {
    private record Port(String name, int number, String protocol) {
    }

    private record Published(int published, int target) {
    }

    /** A health check the agent runs: kind {@code tcp}, {@code http} (with a path) or {@code grpc}. */
    private record HealthCheck(String kind, String path, Duration interval, Duration timeout, int rise, int fall, Duration startPeriod) {
    }

    private final String name;
    private final String id;
    private final String address;
    private final List<Port> ports;
    private final Map<String, Integer> hostPorts;
    private final boolean dnsrr;
    private final int weight;
    private final int ttlSeconds;
    private final Map<String, String> metadata;
    private final String scheduler;
    private final List<Published> published;
    private final HealthCheck check;

    private Service(String name, String id, String address, List<Port> ports, Map<String, Integer> hostPorts, boolean dnsrr,
                    int weight, int ttlSeconds, Map<String, String> metadata, String scheduler, List<Published> published,
                    HealthCheck check) {
        this.name = name;
        this.id = id;
        this.address = address;
        this.ports = ports;
        this.hostPorts = hostPorts;
        this.dnsrr = dnsrr;
        this.weight = weight;
        this.ttlSeconds = ttlSeconds;
        this.metadata = metadata;
        this.scheduler = scheduler;
        this.published = published;
        this.check = check;
    }

    /**
     * A service called {@code name}: an RFC 1123 label (lower-case letters, digits, '-'; 1-63),
     * reached in DNS as {@code name} and {@code name.portolan.internal}. Defaults: VIP mode,
     * weight 100, TTL 10 s, an id made here ({@code name-} and 10 hex digits), the address filled in
     * by the agent.
     */
    public static Service named(String name) {
        return new Service(Check.serviceName(name), null, null, List.of(), Map.of(), false, 100, 10, Map.of(), null, List.of(), null);
    }

    /**
     * A TCP port this instance listens on, named (the name is the SRV label {@code _name._tcp}: a
     * lower-case label of at most 15 characters). At least one port is required.
     */
    public Service port(String name, int port) {
        return withPort(name, port, "tcp");
    }

    /** A UDP port this instance listens on; see {@link #port(String, int)}. */
    public Service udpPort(String name, int port) {
        return withPort(name, port, "udp");
    }

    private Service withPort(String portName, int port, String protocol) {
        Check.portName(portName);
        Check.port("port " + portName, port);
        for (Port p : ports) {
            if (p.name().equals(portName) && p.protocol().equals(protocol)) {
                throw Check.bad("port name", portName, "given twice for " + protocol);
            }
        }
        List<Port> more = new ArrayList<>(ports);
        more.add(new Port(portName, port, protocol));
        return new Service(name, id, address, List.copyOf(more), hostPorts, dnsrr, weight, ttlSeconds, metadata, scheduler, published, check);
    }

    /**
     * Port {@code name} is reached at the agent's node on {@code hostPort}, because the host maps it
     * to this process's port (as {@code docker run -p HOSTPORT:PORT} does): the instance is stored at
     * the node's advertise address and that port, the service keeps the port given to
     * {@link #port}. Name the port first. For a container registering through the agent's
     * {@code --register-listen} on a bridge without routes to the containers.
     */
    public Service hostPort(String name, int hostPort) {
        Check.portName(name);
        Check.port("host port " + name, hostPort);
        if (ports.stream().noneMatch(p -> p.name().equals(name))) {
            throw Check.bad("host port name", name, "names no port of this instance: call port(\"" + name + "\", PORT) first");
        }
        if (hostPorts.containsKey(name)) {
            throw Check.bad("host port name", name, "is mapped twice");
        }
        Map<String, Integer> more = new LinkedHashMap<>(hostPorts);
        more.put(name, hostPort);
        return new Service(this.name, id, address, ports, Collections.unmodifiableMap(more), dnsrr, weight, ttlSeconds, metadata,
                scheduler, published, check);
    }

    /**
     * This instance's id (letters, digits, '.', '_', '-' not first; at most 128), instead of a
     * random one. Registering an id again replaces that instance: give each process its own.
     */
    public Service id(String id) {
        return new Service(name, Check.id(id), address, ports, hostPorts, dnsrr, weight, ttlSeconds, metadata, scheduler, published, check);
    }

    /**
     * The address consumers reach this instance at: an IPv4 or IPv6 literal, never a hostname.
     * Leave it out and the agent fills it in: its own advertise address for a process on its host
     * (a request over loopback), the request's source address for a container registering through
     * {@code --register-listen}.
     */
    public Service address(String address) {
        return new Service(name, id, Check.address(address), ports, hostPorts, dnsrr, weight, ttlSeconds, metadata, scheduler, published, check);
    }

    /**
     * How long the instance outlives its last heartbeat (whole seconds, 2-3600; default 10):
     * a JVM that is killed outright, or cut off its agent, is gone from DNS and the VIP this long
     * after. Heartbeats go every third of it.
     */
    public Service ttl(Duration ttl) {
        return new Service(name, id, address, ports, hostPorts, dnsrr, weight, Check.ttlSeconds(ttl), metadata, scheduler, published, check);
    }

    /** This instance's share of new connections, 0-10000 (default 100); 0 drains it (no DNS answer, no new connections). */
    public Service weight(int weight) {
        return new Service(name, id, address, ports, hostPorts, dnsrr, Check.weight(weight), ttlSeconds, metadata, scheduler, published, check);
    }

    /**
     * Creates the service in DNS round-robin mode (no VIP: DNS answers the instances' addresses)
     * instead of VIP mode. An existing service keeps its mode; registering with another is refused.
     */
    public Service dnsrr() {
        return new Service(name, id, address, ports, hostPorts, true, weight, ttlSeconds, metadata, scheduler, published, check);
    }

    /** A key and value stored with the instance (at most 64; keys {@code [A-Za-z0-9._/-]{1,63}}, values at most 1024 characters). */
    public Service metadata(String key, String value) {
        Check.metadataKey(key);
        Check.metadataValue(key, value);
        Map<String, String> more = new LinkedHashMap<>(metadata);
        more.put(key, value);
        if (more.size() > Check.MAX_METADATA) {
            throw Check.bad("metadata key", key, "at most " + Check.MAX_METADATA + " entries");
        }
        return new Service(name, id, address, ports, hostPorts, dnsrr, weight, ttlSeconds, Collections.unmodifiableMap(more), scheduler,
                published, check);
    }

    /** The VIP's scheduler when this registration creates the service: {@code rr}, {@code wrr} (default), {@code lc}, {@code p2c}, {@code sh}. */
    public Service scheduler(String scheduler) {
        return new Service(name, id, address, ports, hostPorts, dnsrr, weight, ttlSeconds, metadata, Check.scheduler(scheduler), published, check);
    }

    /** Publishes TCP port {@code target} of the service on {@code published} of every node (the routing mesh), when this registration creates the service. */
    /**
     * A health check the agent on this instance's node runs against its first TCP port: {@code tcp}
     * (a connect), {@code http:PATH} (a GET answered 2xx or 3xx) or {@code grpc} (gRPC's standard
     * health service), with the agent's defaults: every 5 s, 2 s timeout, unhealthy after 3
     * failures, healthy again after 1 success. An unhealthy instance leaves DNS and the VIPs
     * (unless all of the service's instances are unhealthy: then all are served).
     */
    public Service check(String spec) {
        return check(spec, Duration.ofSeconds(5), Duration.ofSeconds(2), 1, 3, Duration.ZERO);
    }

    /** {@link #check(String)} with its timings: failures in the first {@code startPeriod} do not count. */
    public Service check(String spec, Duration interval, Duration timeout, int rise, int fall, Duration startPeriod) {
        String kind;
        String path = null;
        if ("tcp".equals(spec) || "grpc".equals(spec)) {
            kind = spec;
        } else if (spec != null && spec.startsWith("http:/") && spec.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            kind = "http";
            path = spec.substring(5);
        } else {
            throw Check.bad("check", spec, "tcp, http:PATH (e.g. http:/healthz) or grpc");
        }
        if (interval == null || interval.toMillis() < 100 || timeout == null || timeout.toMillis() < 10 || timeout.compareTo(interval) > 0) {
            throw Check.bad("check timings", interval + "/" + timeout, "an interval of at least 100 ms and a timeout of 10 ms up to it");
        }
        if (rise < 1 || rise > 100 || fall < 1 || fall > 100) {
            throw Check.bad("check rise/fall", rise + "/" + fall, "each 1-100");
        }
        if (startPeriod == null || startPeriod.isNegative()) {
            throw Check.bad("check start period", startPeriod, "zero or more");
        }
        return new Service(name, id, address, ports, hostPorts, dnsrr, weight, ttlSeconds, metadata, scheduler, published,
                new HealthCheck(kind, path, interval, timeout, rise, fall, startPeriod));
    }

    public Service publish(int published, int target) {
        Check.port("published port", published);
        Check.port("published target", target);
        List<Published> more = new ArrayList<>(this.published);
        more.add(new Published(published, target));
        return new Service(name, id, address, ports, hostPorts, dnsrr, weight, ttlSeconds, metadata, scheduler, List.copyOf(more), check);
    }

    /** The service's name. */
    public String name() {
        return name;
    }

    String id() {
        return id;
    }

    int ttlSeconds() {
        return ttlSeconds;
    }

    /** Throws unless this can be registered: what only the whole can tell. */
    void checkComplete() {
        if (ports.isEmpty()) {
            throw Check.bad("service", name, "at least one port is required: port(\"http\", 8080)");
        }
    }

    /** The body of {@code POST /v1/instances}, with {@code instanceId} unless it is null. */
    String json(String instanceId) {
        StringBuilder b = new StringBuilder(256).append("{\"service\":");
        Json.quote(b, name);
        if (instanceId != null) {
            Json.quote(b.append(",\"id\":"), instanceId);
        }
        if (address != null) {
            Json.quote(b.append(",\"address\":"), address);
        }
        b.append(",\"ports\":[");
        for (int i = 0; i < ports.size(); i++) {
            Port p = ports.get(i);
            Json.quote(b.append(i == 0 ? "" : ",").append("{\"name\":"), p.name()).append(",\"port\":").append(p.number())
                    .append(",\"protocol\":");
            Json.quote(b, p.protocol()).append('}');
        }
        b.append(']');
        if (!hostPorts.isEmpty()) {
            b.append(",\"hostPorts\":[");
            String sep = "";
            for (Map.Entry<String, Integer> h : hostPorts.entrySet()) {
                Json.quote(b.append(sep).append("{\"name\":"), h.getKey()).append(",\"port\":").append(h.getValue()).append('}');
                sep = ",";
            }
            b.append(']');
        }
        b.append(",\"mode\":\"").append(dnsrr ? "dnsrr" : "vip").append("\",\"weight\":").append(weight)
                .append(",\"ttl\":").append(ttlSeconds);
        if (!metadata.isEmpty()) {
            b.append(",\"metadata\":{");
            String sep = "";
            for (Map.Entry<String, String> m : metadata.entrySet()) {
                Json.quote(b.append(sep), m.getKey()).append(':');
                Json.quote(b, m.getValue());
                sep = ",";
            }
            b.append('}');
        }
        if (scheduler != null) {
            Json.quote(b.append(",\"scheduler\":"), scheduler);
        }
        if (!published.isEmpty()) {
            b.append(",\"published\":[");
            for (int i = 0; i < published.size(); i++) {
                Published p = published.get(i);
                b.append(i == 0 ? "" : ",").append("{\"published\":").append(p.published()).append(",\"target\":").append(p.target())
                        .append(",\"protocol\":\"tcp\"}");
            }
            b.append(']');
        }
        if (check != null) {
            Json.quote(b.append(",\"check\":{\"kind\":"), check.kind());
            if (check.path() != null) {
                Json.quote(b.append(",\"path\":"), check.path());
            }
            b.append(",\"interval\":\"").append(check.interval().toMillis()).append("ms\",\"timeout\":\"")
                    .append(check.timeout().toMillis()).append("ms\",\"rise\":").append(check.rise()).append(",\"fall\":")
                    .append(check.fall()).append(",\"startPeriod\":\"").append(check.startPeriod().toMillis()).append("ms\"}");
        }
        return b.append('}').toString();
    }

    /** The registration as the agent will receive it (JSON). */
    @Override
    public String toString() {
        return json(id);
    }
}
