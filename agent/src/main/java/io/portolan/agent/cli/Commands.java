package io.portolan.agent.cli;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.config.EtcdFlags;
import io.portolan.agent.config.SecretFiles;
import io.portolan.agent.config.Flags;
import io.portolan.agent.config.Hostnames;
import io.portolan.agent.registry.Ids;
import io.portolan.proto.Check;
import io.portolan.proto.Flag;
import io.portolan.proto.Cidr;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Registration;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Values;

import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/** The client subcommands: register, deregister, services, delete-service. */
public final class Commands {
    // The client commands' flag tables: what each command parses and what its --help prints. To add a
    // flag, add a row to the command's table and read it where the command reads its flags.

    /** Where a command sends its request: the local agent, or etcd itself. */
    public static final List<Flag> TARGET_TABLE = Flag.concat(List.of(
            Flag.of("agent", "URL", "($PORTOLAN_AGENT, else http://127.0.0.1:9190)", "the agent's API to go through (it holds the instance under its host lease)"),
            Flag.of("admin-token-file", "FILE", "($PORTOLAN_AGENT_TOKEN_FILE)", "the agent API's bearer token, when the agent requires one"),
            Flag.of("etcd-endpoints", "URL,...", "", "go straight to etcd instead (this command holds the lease)"),
            Flag.of("etcd-prefix", "PREFIX", KeyLayout.DEFAULT_PREFIX, "the etcd key prefix, with --etcd-endpoints"),
            Flag.of("etcd-timeout", "DURATION", "3s", "timeout of every etcd call, with --etcd-endpoints"),
            Flag.of("etcd-timeout-ms", "MILLISECONDS", "", "deprecated spelling of --etcd-timeout"),
            Flag.of("vip-cidr", "CIDR", AgentConfig.DEFAULT_VIP_CIDR, "the VIP pool, with --etcd-endpoints (the agents' --vip-cidr)"),
            Flag.of("config", "FILE", "", "read flags from FILE: key = value lines, keys the flag names without --"),
            Flag.of("log-level", "LEVEL", "warn", "trace, debug, info, warn or error")), EtcdFlags.TABLE);

    public static final List<Flag> REGISTER_TABLE = Flag.concat(List.of(
            Flag.of("service", "NAME", "", "the service to register an instance of (required)"),
            Flag.of("address", "IP", "(the request's source, or the agent's advertise address)", "the instance's address"),
            Flag.of("port", "[NAME:]PORT[/tcp|/udp],...", "", "the instance's ports (repeatable; at least one)"),
            Flag.of("host-port", "NAME:PORT", "", "port NAME is reached at the node's advertise address on PORT (repeatable)"),
            Flag.of("mode", "vip|dnsrr", "vip", "a VIP in front of the instances, or DNS round robin"),
            Flag.of("weight", "N", String.valueOf(Validate.DEFAULT_WEIGHT), "share of new connections, 0-10000; 0 drains"),
            Flag.of("ttl", "SECONDS", String.valueOf(Validate.DEFAULT_TTL), "how long the instance outlives its last heartbeat, 2-3600 seconds (through an agent: a deadline the agent keeps; straight to etcd: its lease)"),
            Flag.of("id", "ID", "(SERVICE-random)", "the instance's id"),
            Flag.of("node", "NAME", "(the agent's node)", "the node the instance runs on"),
            Flag.of("meta", "KEY=VALUE", "", "metadata (repeatable)"),
            Flag.of("drain", "DURATION", "2s", "on SIGTERM: deregister, wait this long, then pass the signal on"),
            Flag.of("drain-seconds", "SECONDS", "", "deprecated spelling of --drain"),
            Flag.of("wait-listen", "DURATION", "0", "register only once COMMAND listens on every --port, waiting at most this long"),
            Flag.of("scheduler", "NAME", "(wrr)", "the service's scheduler (wrr, rr, lc, p2c, sh, ...)"),
            Flag.of("publish", "PUBLISHED:TARGET[/tcp|/udp]", "", "a published port on every node's address (repeatable)"),
            Flag.of("check", "tcp|http:PATH|grpc", "", "a health check the instance's agent runs"),
            Flag.of("check-interval", "DURATION", Values.text(Check.DEFAULT_INTERVAL), "time between checks"),
            Flag.of("check-timeout", "DURATION", Values.text(Check.DEFAULT_TIMEOUT), "time one check may take"),
            Flag.of("check-rise", "N", String.valueOf(Check.DEFAULT_RISE), "successes in a row that make it healthy"),
            Flag.of("check-fall", "N", String.valueOf(Check.DEFAULT_FALL), "failures in a row that make it unhealthy"),
            Flag.of("check-start-period", "DURATION", Values.text(Check.DEFAULT_START_PERIOD), "failures this soon after registering do not count")),
            TARGET_TABLE);

    public static final List<Flag> DEREGISTER_TABLE = Flag.concat(List.of(
            Flag.of("service", "NAME", "", "the instance's service (required)"),
            Flag.of("id", "ID", "", "the instance's id, as register printed it (required)")), TARGET_TABLE);

    public static final List<Flag> DELETE_SERVICE_TABLE = Flag.concat(List.of(
            Flag.of("service", "NAME", "", "the service to delete, with its instances and VIP (required)")), TARGET_TABLE);

    public static final List<Flag> SERVICES_TABLE = List.of(
            Flag.named(TARGET_TABLE, "agent"),
            Flag.named(TARGET_TABLE, "admin-token-file"),
            Flag.named(TARGET_TABLE, "log-level"),
            Flag.toggle("json", "print the agent's whole snapshot as JSON instead of the table"));

    static final Set<String> REGISTER_FLAGS = Flag.valueNames(REGISTER_TABLE);
    static final Set<String> DEREGISTER_FLAGS = Flag.valueNames(DEREGISTER_TABLE);
    static final Set<String> SERVICES_FLAGS = Flag.valueNames(SERVICES_TABLE);

    private Commands() {
    }


    /** Registration from flags; every value validated, errors naming the flag. */
    static Registration registration(Flags f) {
        String service = Validate.serviceName("--service", f.required("service"));
        // without --address, the agent fills it: the request's source address, or its advertise address
        var address = f.has("address") ? Validate.unicast("--address", f.required("address")) : null;
        List<Port> ports = new ArrayList<>();
        for (String p : f.all("port")) {
            ports.add(Port.parse("--port", p));
        }
        if (ports.isEmpty()) {
            throw new ValidationException("--port", null, "at least one --port [NAME:]PORT[/tcp|/udp] is required");
        }
        Mode mode = Mode.parse("--mode", f.get("mode", "vip"));
        int weight = (int) f.number("weight", Validate.DEFAULT_WEIGHT, Validate.MIN_WEIGHT, Validate.MAX_WEIGHT);
        int ttl = (int) f.number("ttl", Validate.DEFAULT_TTL, Validate.MIN_TTL, Validate.MAX_TTL);
        String id = f.has("id") ? Validate.id("--id", f.get("id", null)) : Ids.newId(service);
        String node = f.has("node") ? Validate.id("--node", f.get("node", null)) : null;
        Map<String, String> meta = new LinkedHashMap<>();
        for (String kv : f.raw("meta")) {
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new ValidationException("--meta", kv, "expected KEY=VALUE");
            }
            meta.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        List<PublishedPort> published = new ArrayList<>();
        for (String p : f.all("publish")) {
            published.add(PublishedPort.parse("--publish", p));
        }
        String scheduler = f.has("scheduler") ? Validate.scheduler("--scheduler", f.get("scheduler", null)) : null;
        Map<String, Integer> hostPorts = new LinkedHashMap<>();
        for (String h : f.all("host-port")) {
            int colon = h.lastIndexOf(':');
            if (colon <= 0) {
                throw new ValidationException("--host-port", h, "expected NAME:PORT, e.g. http:32768 (port NAME reached at the node's port)");
            }
            if (hostPorts.put(h.substring(0, colon), Validate.port("--host-port", Flags.number("--host-port", h.substring(colon + 1)))) != null) {
                throw new ValidationException("--host-port", h, "port '" + h.substring(0, colon) + "' is mapped twice");
            }
        }
        Check check = check(f);
        try {
            return new Registration(service, id, node, address, ports, mode, weight, ttl, meta, scheduler, published, hostPorts, check);
        } catch (ValidationException e) {
            throw new ValidationException("--" + e.field(), e.value(), e.getMessage());
        }
    }

    /** {@code $PORTOLAN_AGENT} (as the Java client reads it), else the local agent's admin API. */
    static String defaultAgent() {
        String env = System.getenv("PORTOLAN_AGENT");
        return env == null || env.isBlank() ? "http://" + AgentConfig.DEFAULT_ADMIN : env.strip();
    }

    /**
     * The agent's admin API at {@code --agent} (default {@link #defaultAgent}), with the bearer token read from
     * {@code --admin-token-file}, else from the file {@code $PORTOLAN_AGENT_TOKEN_FILE} names (as the Java client reads it).
     */
    static AgentClient agentClient(Flags f) {
        if (f.has("admin-token-file") && f.has("etcd-endpoints")) {
            throw new ValidationException("--admin-token-file", f.get("admin-token-file", null), "is for the agent's API (--agent), not etcd");
        }
        URI url = Flags.agentUrl("--agent", f.get("agent", defaultAgent()));
        String token = null;
        if (f.has("admin-token-file")) {
            token = SecretFiles.secretLine("--admin-token-file", f.get("admin-token-file", null)).strip();
        } else {
            String env = System.getenv(TOKEN_FILE_ENV);
            if (env != null && !env.isBlank()) {
                token = SecretFiles.secretLine("$" + TOKEN_FILE_ENV, env.strip()).strip();
            }
        }
        return new AgentClient(url, token);
    }

    /** The environment variable naming the admin token's file, for the CLI and the Java client. */
    static final String TOKEN_FILE_ENV = "PORTOLAN_AGENT_TOKEN_FILE";

    /** {@code --check tcp|http:PATH|grpc} and its timings; a timing without {@code --check} is refused. */
    static Check check(Flags f) {
        if (!f.has("check")) {
            for (String t : List.of("check-interval", "check-timeout", "check-rise", "check-fall", "check-start-period")) {
                if (f.has(t)) {
                    throw new ValidationException("--" + t, f.get(t, null), "goes with --check tcp|http:PATH|grpc");
                }
            }
            return null;
        }
        Check c = Check.parse("--check", f.get("check", null));
        try {
            return c.withTimings(f.duration("check-interval", Check.DEFAULT_INTERVAL, Duration.ofMillis(100), Duration.ofHours(1)),
                    f.duration("check-timeout", Check.DEFAULT_TIMEOUT, Duration.ofMillis(10), Duration.ofMinutes(5)),
                    (int) f.number("check-rise", Check.DEFAULT_RISE, 1, 100), (int) f.number("check-fall", Check.DEFAULT_FALL, 1, 100),
                    f.duration("check-start-period", Check.DEFAULT_START_PERIOD, Duration.ZERO, Duration.ofHours(1)));
        } catch (ValidationException e) {
            throw e.field().startsWith("--") ? e : new ValidationException("--" + e.field(), e.value(), e.getMessage());
        }
    }

    static Flags flags(String[] args, Set<String> known, Set<String> switches) {
        Flags f = Flags.parse(args, known, switches);
        if (f.has("config")) {
            f.mergeConfigFile(java.nio.file.Path.of(f.get("config", null)), known, switches);
        }
        return f;
    }

    /** --agent URL (default the local agent) or --etcd-endpoints; not both. */
    static Registrar registrar(Flags f) {
        if (f.has("agent") && f.has("etcd-endpoints")) {
            throw new ValidationException("--agent", f.get("agent", null), "give --agent or --etcd-endpoints, not both");
        }
        if (f.has("etcd-endpoints")) {
            List<URI> eps = Flags.endpoints("--etcd-endpoints", f.all("etcd-endpoints"));
            if (eps.isEmpty()) {
                throw new ValidationException("--etcd-endpoints", f.get("etcd-endpoints", null), "needs at least one URL");
            }
            KeyLayout layout = AgentConfig.layout(f);
            Cidr cidr = Cidr.parse("--vip-cidr", f.get("vip-cidr", AgentConfig.DEFAULT_VIP_CIDR));
            return new Registrar.ViaEtcd(EtcdFlags.access(f, eps), layout, cidr, AgentConfig.etcdTimeout(f));
        }
        for (String name : EtcdFlags.FLAGS) {
            if (f.has(name)) {
                throw new ValidationException("--" + name, f.get(name, null), "goes with --etcd-endpoints");
            }
        }
        return new Registrar.ViaAgent(agentClient(f));
    }

    public static int register(String[] args) throws Exception {
        Flags f = flags(args, REGISTER_FLAGS, Set.of());
        Registration r = registration(f);
        long drainMillis = f.duration("drain", "drain-seconds", ChronoUnit.SECONDS, Duration.ofSeconds(2), Duration.ZERO,
                Duration.ofHours(1)).toMillis();
        long waitListenMillis = f.duration("wait-listen", Duration.ZERO, Duration.ZERO, Duration.ofHours(1)).toMillis();
        if (waitListenMillis > 0 && f.command().isEmpty()) {
            throw new ValidationException("--wait-listen", f.get("wait-listen", null), "waits for the command after '--' to listen; there is none");
        }
        Registrar registrar = registrar(f);
        if (registrar instanceof Registrar.ViaEtcd && r.address() == null) {
            registrar.close();
            throw new ValidationException("--address", null, "required with --etcd-endpoints (through an agent it may be left out: "
                    + "the agent takes the request's source address, or its advertise address)");
        }
        if (registrar instanceof Registrar.ViaEtcd && r.node() == null) {
            r = r.withNode(Validate.id("--node", Hostnames.local()));
        }
        return new Wrapper(registrar, r, f.command(), drainMillis, waitListenMillis).run();
    }

    public static int deregister(String[] args) {
        Flags f = flags(args, DEREGISTER_FLAGS, Set.of());
        String service = Validate.serviceName("--service", f.required("service"));
        String id = Validate.id("--id", f.required("id"));
        try (Registrar registrar = registrar(f)) {
            boolean removed;
            if (registrar instanceof Registrar.ViaEtcd e) {
                removed = e.registry().deregister(service, id);
            } else {
                AgentClient.Reply reply = agentClient(f).send("DELETE", "/v1/instances/" + service + "/" + id, null);
                if (reply.status() != 200 && reply.status() != 404) {
                    AgentClient.raise(reply, "deregister");
                }
                removed = reply.status() == 200;
            }
            if (!removed) {
                System.err.println("portolan: no instance " + service + "/" + id);
                return 1;
            }
            System.out.println("deregistered " + service + "/" + id);
            return 0;
        }
    }

    public static int deleteService(String[] args) {
        Flags f = flags(args, Flag.valueNames(DELETE_SERVICE_TABLE), Set.of());
        String service = Validate.serviceName("--service", f.required("service"));
        try (Registrar registrar = registrar(f)) {
            boolean removed;
            if (registrar instanceof Registrar.ViaEtcd e) {
                removed = e.registry().deleteService(service);
            } else {
                AgentClient.Reply reply = agentClient(f).send("DELETE", "/v1/services/" + service, null);
                if (reply.status() != 200 && reply.status() != 404) {
                    AgentClient.raise(reply, "delete-service");
                }
                removed = reply.status() == 200;
            }
            if (!removed) {
                System.err.println("portolan: no service " + service);
                return 1;
            }
            System.out.println("deleted service " + service);
            return 0;
        }
    }

    public static int services(String[] args, PrintStream out) {
        Flags f = Flags.parse(args, SERVICES_FLAGS, Flag.switchNames(SERVICES_TABLE));
        AgentClient client = agentClient(f);
        AgentClient.Reply reply = client.send("GET", "/v1/snapshot", null);
        if (reply.status() != 200) {
            AgentClient.raise(reply, "services");
        }
        if (f.bool("json")) {
            out.println(new String(reply.body(), StandardCharsets.UTF_8));
            return 0;
        }
        out.print(table(JsonCodec.decodeSnapshot(reply.body()), Instant.now()));
        return 0;
    }

    /** The `services` table: one row per instance, the service's columns on its first row. */
    static String table(ClusterSnapshot s, Instant now) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"SERVICE", "MODE", "VIP", "PORTS", "INSTANCE", "ADDRESS", "NODE", "WEIGHT", "HEALTH", "AGE"});
        for (Service svc : s.services().values()) {
            String ports = svc.ports().stream().map(Port::toString).collect(Collectors.joining(","));
            String vip = svc.vip() == null ? "-" : svc.vip().getHostAddress();
            List<Instance> instances = s.instances(svc.name());
            if (instances.isEmpty()) {
                rows.add(new String[] {svc.name(), svc.mode().lower(), vip, ports, "-", "-", "-", "-", "-", "-"});
            }
            boolean first = true;
            for (Instance i : instances) {
                String addr = i.address().getHostAddress();
                if (addr.contains(":")) {
                    addr = "[" + addr + "]";
                }
                String addrPorts = addr + ":" + i.ports().stream().map(p -> String.valueOf(p.number())).collect(Collectors.joining(","));
                rows.add(new String[] {first ? svc.name() : "", first ? svc.mode().lower() : "", first ? vip : "", first ? ports : "",
                        i.id(), addrPorts, i.node(), String.valueOf(i.weight()), i.health().lower(), age(i.registeredAt(), now)});
                first = false;
            }
        }
        StringBuilder b = new StringBuilder(columns(rows));
        if (!s.nodes().isEmpty()) {
            List<String[]> nodes = new ArrayList<>();
            nodes.add(new String[] {"NODE", "ADVERTISE ADDRESS"});
            s.nodes().values().forEach(n -> nodes.add(new String[] {n.name(), n.address().getHostAddress()}));
            b.append('\n').append(columns(nodes));
        }
        return b.toString();
    }

    /** Rows as aligned columns, two spaces apart. */
    private static String columns(List<String[]> rows) {
        int[] width = new int[rows.get(0).length];
        for (String[] r : rows) {
            for (int c = 0; c < r.length; c++) {
                width[c] = Math.max(width[c], r[c].length());
            }
        }
        StringBuilder b = new StringBuilder();
        for (String[] r : rows) {
            StringBuilder line = new StringBuilder();
            for (int c = 0; c < r.length; c++) {
                line.append(r[c]);
                if (c < r.length - 1) {
                    line.append(" ".repeat(width[c] - r[c].length() + 2));
                }
            }
            b.append(line.toString().stripTrailing()).append('\n');
        }
        return b.toString();
    }

    static String age(Instant since, Instant now) {
        long s = Math.max(0, Duration.between(since, now).getSeconds());
        if (s < 120) {
            return s + "s";
        }
        if (s < 7200) {
            return (s / 60) + "m";
        }
        if (s < 172_800) {
            return (s / 3600) + "h";
        }
        return (s / 86_400) + "d";
    }
}
