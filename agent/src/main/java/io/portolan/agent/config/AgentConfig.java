package io.portolan.agent.config;

import io.portolan.dns.DnsConfig;
import io.portolan.lb.ipvs.IpvsDataPlane;
import io.portolan.lb.nftables.NftablesDataPlane;
import io.portolan.lb.userspace.UserspaceConfig;
import io.portolan.proto.Cidr;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Validate;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The agent's settings, from flags over the config file over defaults. */
public record AgentConfig(String node, List<URI> etcdEndpoints, KeyLayout layout, Duration etcdTimeout, Path stateDir,
                          InetSocketAddress adminListen, Cidr vipCidr, String dataplane, UserspaceConfig userspace, DnsConfig dns,
                          Map<String, String> kernelFlags, boolean cleanup, Flags flags) {

    public static final String DEFAULT_ADMIN = "127.0.0.1:9190";
    public static final String DEFAULT_VIP_CIDR = "10.99.0.0/16";
    public static final String DEFAULT_STATE_DIR = "/var/lib/portolan";

    /** The userspace data plane's settings, each a flag {@code --lb-NAME} (see {@link UserspaceConfig.Builder#flag}). */
    static final List<String> LB_FLAGS = List.of("vip-device", "source-addresses", "max-connections", "idle-timeout",
            "service-idle-timeouts", "udp-idle-timeout", "drain-timeout", "connect-timeout", "connect-retries", "keepalive-idle",
            "affinity-timeout", "proxy-protocol", "splice", "threads", "tcp-io", "eject", "eject-window", "eject-min-calls",
            "eject-failure-rate", "eject-duration", "eject-max-percent");

    /** The DNS server's settings (see {@link DnsConfig}); {@code --dns-listen none} turns it off. */
    static final List<String> DNS_FLAGS = List.of("dns-listen", "dns-zone", "dns-upstream", "dns-ttl", "dns-recursion-clients",
            "dns-rate-limit", "dns-forward-timeout", "dns-cache-size", "dns-max-forwards", "dns-udp-sockets", "dns-udp-io");
    public static final String DEFAULT_DNS_LISTEN = "127.0.0.11:53";

    /** Flags that take a value. */
    public static final Set<String> FLAGS = valueFlags();

    private static Set<String> valueFlags() {
        java.util.Set<String> s = new java.util.HashSet<>(List.of("config", "node", "etcd-endpoints", "etcd-prefix", "etcd-timeout-ms",
                "state-dir", "admin-listen", "vip-cidr", "dataplane", "log-level"));
        s.addAll(DNS_FLAGS);
        LB_FLAGS.forEach(f -> s.add("lb-" + f));
        s.addAll(NftablesDataPlane.FLAGS);
        s.addAll(IpvsDataPlane.FLAGS);
        return Set.copyOf(s);
    }
    public static final Set<String> SWITCHES = Set.of("cleanup");

    /** The DNS settings, or null with {@code --dns-listen none}. */
    private static DnsConfig dns(Flags f) {
        String listen = f.get("dns-listen", DEFAULT_DNS_LISTEN);
        if (listen.equals("none")) {
            return null;
        }
        DnsConfig d = DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", listen, 53));
        if (f.has("dns-zone")) {
            d = d.withZone(DnsConfig.parseZone("--dns-zone", f.get("dns-zone", null)));
        }
        if (f.has("dns-upstream")) {
            d = d.withUpstreams(DnsConfig.parseAddresses("--dns-upstream", f.get("dns-upstream", null), 53));
        }
        if (f.has("dns-ttl")) {
            d = d.withTtl(DnsConfig.parseInt("--dns-ttl", f.get("dns-ttl", null), 0, DnsConfig.MAX_TTL));
        }
        if (f.has("dns-recursion-clients")) {
            d = d.withRecursionClients(DnsConfig.parseNetworks("--dns-recursion-clients", f.get("dns-recursion-clients", null)));
        }
        if (f.has("dns-rate-limit")) {
            d = d.withRateLimit(DnsConfig.parseInt("--dns-rate-limit", f.get("dns-rate-limit", null), 0, 10_000_000));
        }
        if (f.has("dns-forward-timeout")) {
            d = d.withForwardTimeout(DnsConfig.parseDuration("--dns-forward-timeout", f.get("dns-forward-timeout", null)));
        }
        if (f.has("dns-cache-size")) {
            d = d.withCacheBytes(DnsConfig.parseSize("--dns-cache-size", f.get("dns-cache-size", null)));
        }
        if (f.has("dns-max-forwards")) {
            d = d.withMaxForwardsInFlight(DnsConfig.parseInt("--dns-max-forwards", f.get("dns-max-forwards", null), 1, 1_000_000));
        }
        if (f.has("dns-udp-sockets")) {
            d = d.withUdpSockets(DnsConfig.parseInt("--dns-udp-sockets", f.get("dns-udp-sockets", null), 1, 64));
        }
        if (f.has("dns-udp-io")) {
            d = d.withUdpIo(DnsConfig.UdpIo.parse("--dns-udp-io", f.get("dns-udp-io", null)));
        }
        return d;
    }

    /** The kernel data plane flags whose names start with {@code prefix} ("nft-" or "ipvs-"). */
    public Map<String, String> kernelFlags(String prefix) {
        Map<String, String> m = new java.util.TreeMap<>();
        kernelFlags.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                m.put(k, v);
            }
        });
        return m;
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
        KeyLayout layout;
        try {
            layout = new KeyLayout(f.get("etcd-prefix", KeyLayout.DEFAULT_PREFIX));
        } catch (ValidationException e) {
            throw new ValidationException("--etcd-prefix", f.get("etcd-prefix", null), e.getMessage());
        }
        Duration timeout = Duration.ofMillis(f.number("etcd-timeout-ms", 3000, 100, 60_000));
        Path stateDir = Path.of(f.get("state-dir", DEFAULT_STATE_DIR));
        InetSocketAddress admin = Flags.hostPort("--admin-listen", f.get("admin-listen", DEFAULT_ADMIN));
        Cidr cidr = Cidr.parse("--vip-cidr", f.get("vip-cidr", DEFAULT_VIP_CIDR));
        String dataplane = f.get("dataplane", "none");
        if (!Set.of("none", "userspace", "nftables", "ipvs").contains(dataplane)) {
            throw new ValidationException("--dataplane", dataplane, "one of none, userspace, nftables, ipvs");
        }
        Map<String, String> kernelFlags = new java.util.TreeMap<>();
        for (String name : FLAGS) {
            if ((NftablesDataPlane.FLAGS.contains(name) || IpvsDataPlane.FLAGS.contains(name)) && f.has(name)) {
                kernelFlags.put(name, f.get(name, null));
            }
        }
        UserspaceConfig.Builder lb = UserspaceConfig.builder();
        for (String name : LB_FLAGS) {
            if (f.has("lb-" + name)) {
                lb.flag(name, f.get("lb-" + name, null));
            }
        }
        UserspaceConfig userspace = lb.build();
        DnsConfig dns = dns(f);
        String level = f.get("log-level", "info");
        if (!Set.of("trace", "debug", "info", "warn", "error").contains(level)) {
            throw new ValidationException("--log-level", level, "one of trace, debug, info, warn, error");
        }
        return new AgentConfig(node, endpoints, layout, timeout, stateDir, admin, cidr, dataplane, userspace, dns, Map.copyOf(kernelFlags),
                f.bool("cleanup"), f);
    }
}
