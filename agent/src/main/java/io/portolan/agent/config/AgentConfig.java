package io.portolan.agent.config;

import io.portolan.agent.importer.dubbo.DubboSettings;
import io.portolan.agent.registry.etcd.EtcdAccess;
import io.portolan.dns.DnsConfig;
import io.portolan.lb.DataPlanes;
import io.portolan.lb.host.Exec;
import io.portolan.proto.Cidr;
import io.portolan.proto.Flag;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Validate;
import io.portolan.proto.Values;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The agent's settings, from flags over the config file over defaults. The agent's own flags are
 * parsed here; the DNS server's ({@link DnsConfig#FLAGS}) and the data planes' ({@link DataPlanes})
 * are handed on by name to the module that owns them, which parses and checks them.
 *
 * @param advertiseAddress the address other hosts reach this one at ({@code --advertise-address};
 *                    default: the source address of the route to the default gateway)
 * @param registerListen where containers register ({@code --register-listen ADDR:PORT,...}): instance
 *                    register, heartbeat and deregister only, with the addresses they may claim restricted
 * @param dataplane   {@code --dataplane}: {@code auto}, {@code none} or a kind's name, resolved when the agent
 *                    starts ({@link DataPlanes#choose})
 * @param moduleFlags the DNS and data plane flags given, by name without dashes
 * @param etcdAccess  the etcd endpoints with TLS and the etcd user ({@link EtcdFlags}), or null without etcd
 * @param adminToken  the bearer token every admin API request but /healthz and /readyz must carry
 *                    ({@code --admin-token-file}; required when {@code --admin-listen} is not loopback), or null
 */
public record AgentConfig(String node, InetAddress advertiseAddress, List<URI> etcdEndpoints, KeyLayout layout, Duration etcdTimeout,
                          Path stateDir, InetSocketAddress adminListen, List<InetSocketAddress> registerListen, Cidr vipCidr,
                          String dataplane, DnsConfig dns, Map<String, String> moduleFlags, boolean cleanup, Flags flags,
                          EtcdAccess etcdAccess, String adminToken) {

    public static final String DEFAULT_ADMIN = "127.0.0.1:9190";
    public static final String DEFAULT_VIP_CIDR = "10.99.0.0/16";
    public static final String DEFAULT_STATE_DIR = "/var/lib/portolan";

    /**
     * The agent's own flags: what {@link #parse} accepts and {@code portolan agent --help} prints (with
     * the DNS server's {@link DnsConfig#FLAG_TABLE} and each data plane kind's table). To add a flag, add
     * a row here and read it in {@link #parse} (its default through {@link #dflt}); the help, the list
     * of known flags and the config file's keys follow from the row.
     */
    public static final List<Flag> OWN_TABLE = Flag.concat(List.of(
            Flag.of("config", "FILE", "", "read flags from FILE: key = value lines, keys the flag names without --"),
            Flag.of("node", "NAME", "(the kernel's hostname)", "this host's name in the registry"),
            Flag.of("advertise-address", "IP", "(the source address of the default route)", "the address other hosts reach this one at"),
            Flag.of("etcd-endpoints", "URL,...", "(none: the embedded store)", "etcd to follow, http://HOST:PORT,...; without it one host's own store"),
            Flag.of("etcd-prefix", "PREFIX", KeyLayout.DEFAULT_PREFIX, "the etcd key prefix everything lives under"),
            Flag.of("etcd-timeout", "DURATION", "3s", "timeout of every etcd call, 100ms-1m"),
            Flag.of("etcd-timeout-ms", "MILLISECONDS", "", "deprecated spelling of --etcd-timeout"),
            Flag.of("state-dir", "DIR", DEFAULT_STATE_DIR, "where the embedded store keeps registry.json"),
            Flag.of("admin-listen", "ADDR:PORT", DEFAULT_ADMIN, "the HTTP API; off loopback only with --admin-token-file"),
            Flag.of("admin-token-file", "FILE", "", "a bearer token every admin request but /healthz and /readyz must carry (not world-readable)"),
            Flag.of("register-listen", "ADDR:PORT,...", "", "registration-only listeners for containers (e.g. the bridge's gateway)"),
            Flag.of("vip-cidr", "CIDR", DEFAULT_VIP_CIDR, "the VIP pool; the same on every agent and registrant of a cluster"),
            Flag.of("dataplane", "auto|none|userspace|nftables|ipvs", DataPlanes.AUTO,
                    "what makes VIPs work; auto: nftables if it can, else userspace, else none"),
            Flag.of("import", "dubbo", "", "also serve the providers Apache Dubbo's etcd3 registry writes (needs --etcd-endpoints)"),
            Flag.of("dubbo-root", "ROOT", DubboSettings.DEFAULT_ROOT, "the root of Dubbo's interface-level keys, with --import dubbo"),
            Flag.of("log-level", "LEVEL", "info", "trace, debug, info, warn or error"),
            Flag.toggle("cleanup", "remove every rule and address the data planes made on this host, then exit")), EtcdFlags.TABLE);

    /** The agent's own flags that take a value. */
    static final Set<String> OWN_FLAGS = Flag.valueNames(OWN_TABLE);

    /** Every flag of {@code portolan agent}: the agent's own, the DNS server's and every data plane kind's, in that order. */
    public static final List<Flag> TABLE = table();

    private static List<Flag> table() {
        List<List<Flag>> all = new java.util.ArrayList<>(List.of(OWN_TABLE, DnsConfig.FLAG_TABLE));
        DataPlanes.all().forEach(k -> all.add(k.flagTable()));
        @SuppressWarnings("unchecked")
        List<Flag>[] a = all.toArray(new List[0]);
        return Flag.concat(a);
    }

    /** Every flag that takes a value: the agent's own, the DNS server's and every data plane's. */
    public static final Set<String> FLAGS = Flag.valueNames(TABLE);

    public static final Set<String> SWITCHES = Flag.switchNames(TABLE);

    /** The default of one of the agent's own flags, as its row gives it. */
    static String dflt(String name) {
        return Flag.named(OWN_TABLE, name).dflt();
    }

    /** {@code --etcd-timeout} (default 3s), or its former spelling {@code --etcd-timeout-ms}. */
    public static Duration etcdTimeout(Flags f) {
        return f.duration("etcd-timeout", "etcd-timeout-ms", ChronoUnit.MILLIS, Values.duration("etcd-timeout", dflt("etcd-timeout"),
                        Duration.ZERO, Duration.ofDays(1)), Duration.ofMillis(100),
                Duration.ofMinutes(1));
    }

    /** {@code --etcd-prefix} (default {@value KeyLayout#DEFAULT_PREFIX}) as a key layout. */
    public static KeyLayout layout(Flags f) {
        try {
            return new KeyLayout(f.get("etcd-prefix", KeyLayout.DEFAULT_PREFIX));
        } catch (ValidationException e) {
            throw new ValidationException("--etcd-prefix", f.get("etcd-prefix", null), e.getMessage());
        }
    }

    /** {@code --import dubbo [--dubbo-root ROOT]}: Apache Dubbo's etcd3 keys to serve, or null. */
    public DubboSettings dubboImport() {
        return DubboSettings.fromFlags(flags, !etcdEndpoints.isEmpty(), layout.prefix());
    }

    /**
     * {@code --admin-token-file}'s token, or null without it; refused when the admin API would listen beyond
     * loopback without one (anyone who reaches it could register, deregister and delete services).
     */
    static String adminToken(Flags f, InetSocketAddress admin) {
        if (!f.has("admin-token-file")) {
            if (!admin.getAddress().isLoopbackAddress()) {
                throw new ValidationException("--admin-listen", f.get("admin-listen", null), "is not a loopback address, and the admin API "
                        + "can change every registration: give --admin-token-file FILE (a bearer token clients must send), or listen on 127.0.0.1");
            }
            return null;
        }
        String token = SecretFiles.secretLine("--admin-token-file", f.get("admin-token-file", null)).strip();
        if (token.length() < 16 || token.chars().anyMatch(c -> c < 0x21 || c > 0x7e)) {
            throw new ValidationException("--admin-token-file", f.get("admin-token-file", null), "the token must be at least 16 printable "
                    + "characters without spaces (e.g. from: openssl rand -hex 32)");
        }
        return token;
    }

    public static AgentConfig parse(String[] args) {
        Flags f = Flags.parse(args, FLAGS, SWITCHES);
        if (!f.command().isEmpty()) {
            throw new ValidationException("argument", String.join(" ", f.command()), "the agent runs no command");
        }
        if (f.has("config")) {
            f.mergeConfigFile(Path.of(f.get("config", null)), FLAGS, SWITCHES);
        }
        String node = Validate.id("--node", f.get("node", Hostnames.local()));
        List<URI> endpoints = Flags.endpoints("--etcd-endpoints", f.all("etcd-endpoints"));
        KeyLayout layout = layout(f);
        Duration timeout = etcdTimeout(f);
        Path stateDir = Path.of(f.get("state-dir", dflt("state-dir")));
        InetSocketAddress admin = Flags.hostPort("--admin-listen", f.get("admin-listen", dflt("admin-listen")));
        String adminToken = adminToken(f, admin);
        List<InetSocketAddress> register = f.all("register-listen").stream().map(a -> Flags.hostPort("--register-listen", a)).toList();
        Cidr cidr = Cidr.parse("--vip-cidr", f.get("vip-cidr", dflt("vip-cidr")));
        String dataplane = DataPlanes.checkName("--dataplane", f.get("dataplane", dflt("dataplane")));
        Map<String, String> moduleFlags = new TreeMap<>();
        for (String name : FLAGS) {
            if (!OWN_FLAGS.contains(name) && f.has(name)) {
                moduleFlags.put(name, f.get(name, null));
            }
        }
        DataPlanes.check(moduleFlags); // a bad value is refused whichever plane runs
        DnsConfig dns = DnsConfig.fromFlags(moduleFlags);
        String level = f.get("log-level", dflt("log-level"));
        if (!Set.of("trace", "debug", "info", "warn", "error").contains(level)) {
            throw new ValidationException("--log-level", level, "one of trace, debug, info, warn, error");
        }
        DubboSettings.fromFlags(f, !endpoints.isEmpty(), layout.prefix()); // --import dubbo: refused here when bad, read by dubboImport()
        InetAddress advertise = f.has("advertise-address") ? Validate.unicast("--advertise-address", f.get("advertise-address", null))
                : f.bool("cleanup") ? InetAddress.getLoopbackAddress() : AdvertiseAddress.detect(Exec.local());
        EtcdAccess access = f.bool("cleanup") ? null : EtcdFlags.access(f, endpoints); // files read last, once every other value is good
        return new AgentConfig(node, advertise, endpoints, layout, timeout, stateDir, admin, register, cidr, dataplane, dns,
                Map.copyOf(moduleFlags), f.bool("cleanup"), f, access, adminToken);
    }

    /** A record's text without the secrets: the admin token is only said to be there, the etcd password never shown. */
    @Override
    public String toString() {
        return "AgentConfig[node=" + node + ", etcd=" + (etcdAccess == null ? etcdEndpoints : etcdAccess.describe()) + ", prefix="
                + layout.prefix() + ", admin=" + adminListen + (adminToken == null ? "" : " (with a token)") + ", register=" + registerListen
                + ", vipCidr=" + vipCidr + ", dataplane=" + dataplane + ", cleanup=" + cleanup + "]";
    }
}
