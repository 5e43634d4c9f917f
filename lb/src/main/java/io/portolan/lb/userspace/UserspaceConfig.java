package io.portolan.lb.userspace;

import io.portolan.lb.host.VipAddresses;
import io.portolan.proto.Flag;
import io.portolan.proto.Validate;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Values;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Settings of the userspace data plane. Per-service settings that the {@code Service} record does
 * not carry (idle timeout, PROXY protocol) live here, keyed by service name.
 *
 * <p>Every flag string goes through {@link Builder#flag} (the project's value grammar,
 * {@link Values}), which throws {@link ValidationException} naming the flag and the offending value.
 *
 * @param vipDevice          the interface VIPs are added to as /32 (or /128): {@code lo} by default
 * @param sourceAddresses    local addresses upstream connections are bound to, in turn (with
 *                           IP_BIND_ADDRESS_NO_PORT); empty: the kernel picks one
 * @param maxConnections     connections (TCP) or flows (UDP) per service port; past it new ones are refused
 * @param idleTimeout        a TCP connection with no byte either way for this long is closed
 * @param serviceIdleTimeouts per-service idle timeouts overriding {@code idleTimeout}
 * @param udpIdleTimeout     a UDP flow with no datagram either way for this long is dropped
 * @param drainTimeout       how long connections to a removed or weight-0 instance may go on
 * @param connectTimeout     upstream TCP connect timeout
 * @param connectRetries     further instances tried when a connect fails, before any byte went out
 * @param keepAliveIdle      TCP keep-alive idle time on both sides (probes every 10 s, 6 of them)
 * @param affinityTimeout    how long source-hash ({@code sh}) affinity outlives the client's last connection
 * @param proxyProtocolServices services whose instances get a PROXY protocol v2 header (TCP only)
 * @param splice             relay with splice(2) between the two sockets instead of buffers (epoll only)
 * @param threads            event-loop threads (0: one per core)
 * @param tcpIo              how TCP is relayed: portolan's own epoll loop over its JNI system calls
 *                           ({@code native}, the default), or Netty's epoll transport ({@code netty});
 *                           splice, and a host where the native library does not load, use Netty's
 * @param eject              passive outlier ejection
 */
public record UserspaceConfig(String vipDevice, List<InetAddress> sourceAddresses, int maxConnections,
                              Duration idleTimeout, Map<String, Duration> serviceIdleTimeouts,
                              Duration udpIdleTimeout, Duration drainTimeout, Duration connectTimeout,
                              int connectRetries, Duration keepAliveIdle, Duration affinityTimeout,
                              Set<String> proxyProtocolServices, boolean splice, int threads, TcpIo tcpIo,
                              Eject eject) {

    public static final String DEFAULT_VIP_DEVICE = "lo";
    public static final int DEFAULT_MAX_CONNECTIONS = 50_000;
    public static final Duration DEFAULT_IDLE_TIMEOUT = Duration.ofHours(2);
    public static final Duration DEFAULT_UDP_IDLE_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(2);
    public static final int DEFAULT_CONNECT_RETRIES = 2;
    public static final Duration DEFAULT_KEEPALIVE_IDLE = Duration.ofSeconds(60);
    public static final Duration DEFAULT_AFFINITY_TIMEOUT = Duration.ofMinutes(3);

    /** The TCP relay: see {@link UserspaceConfig#tcpIo()}. */
    public enum TcpIo {
        NATIVE, NETTY;

        /** {@code native} or {@code netty}. */
        public static TcpIo parse(String field, String s) {
            if ("native".equals(s)) {
                return NATIVE;
            }
            if ("netty".equals(s)) {
                return NETTY;
            }
            throw new ValidationException(field, s, "native or netty");
        }
    }

    /**
     * Passive outlier ejection: a circuit breaker per instance over a time-based window of connect
     * outcomes. An instance is ejected when at least {@code minimumCalls} connects in the last
     * {@code window} failed at {@code failureRatePercent} or more; it comes back on its own after
     * {@code ejectFor} (one probe connection, then closed again on success). At most
     * {@code maxEjectedFraction} of a service's instances are ejected at once (at least one).
     */
    public record Eject(boolean enabled, Duration window, int minimumCalls, float failureRatePercent,
                        Duration ejectFor, double maxEjectedFraction) {
        public static final Eject DEFAULT = new Eject(true, Duration.ofSeconds(10), 5, 50f, Duration.ofSeconds(10), 0.5);

        public Eject {
            positive("eject window", window);
            positive("eject duration", ejectFor);
            if (window.toSeconds() < 1) {
                throw new ValidationException("eject window", window, "at least 1s (the breaker's window counts whole seconds)");
            }
            if (minimumCalls < 1) {
                throw new ValidationException("eject minimum calls", minimumCalls, "at least 1");
            }
            if (!(failureRatePercent > 0 && failureRatePercent <= 100)) {
                throw new ValidationException("eject failure rate", failureRatePercent, "a percentage in (0, 100]");
            }
            if (!(maxEjectedFraction >= 0 && maxEjectedFraction <= 1)) {
                throw new ValidationException("eject max fraction", maxEjectedFraction, "a fraction in [0, 1]");
            }
        }
    }

    public UserspaceConfig {
        vipDevice = VipAddresses.checkDevice("--lb-vip-device", vipDevice == null ? DEFAULT_VIP_DEVICE : vipDevice, VipAddresses.MAX_LABELLED_DEVICE);
        sourceAddresses = sourceAddresses == null ? List.of() : List.copyOf(sourceAddresses);
        if (maxConnections < 1) {
            throw new ValidationException("max connections", maxConnections, "at least 1");
        }
        positive("idle timeout", idleTimeout);
        serviceIdleTimeouts = serviceIdleTimeouts == null ? Map.of() : Map.copyOf(serviceIdleTimeouts);
        serviceIdleTimeouts.forEach((k, v) -> positive("idle timeout of " + k, v));
        positive("udp idle timeout", udpIdleTimeout);
        if (drainTimeout == null || drainTimeout.isNegative()) {
            throw new ValidationException("drain timeout", drainTimeout, "zero or more");
        }
        positive("connect timeout", connectTimeout);
        if (connectRetries < 0 || connectRetries > 16) {
            throw new ValidationException("connect retries", connectRetries, "0-16");
        }
        positive("keep-alive idle", keepAliveIdle);
        positive("affinity timeout", affinityTimeout);
        proxyProtocolServices = proxyProtocolServices == null ? Set.of() : Set.copyOf(proxyProtocolServices);
        if (threads < 0 || threads > 256) {
            throw new ValidationException("threads", threads, "0-256 (0: one per core)");
        }
        if (tcpIo == null) {
            tcpIo = TcpIo.NATIVE;
        }
        if (eject == null) {
            eject = Eject.DEFAULT;
        }
    }

    public static UserspaceConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * The agent flags of the userspace data plane (names {@code lb-NAME}, without dashes): the table
     * {@link #fromFlags} reads and {@code --help} prints. Add a row here and a case in {@link Builder#flag}.
     */
    public static final List<Flag> FLAG_TABLE = List.of(
            lb("vip-device", "DEV", DEFAULT_VIP_DEVICE, "the device VIPs are added to (/32, label DEV:ptl); 127.0.0.0/8 VIPs need none"),
            lb("source-addresses", "ADDR,...", "(the kernel picks)", "local addresses upstream connections are bound to, in turn"),
            lb("max-connections", "N", String.valueOf(DEFAULT_MAX_CONNECTIONS), "connections (TCP) or flows (UDP) per service port; past it, refused"),
            lb("idle-timeout", "DURATION", Values.text(DEFAULT_IDLE_TIMEOUT), "a TCP connection idle both ways this long is closed"),
            lb("service-idle-timeouts", "SERVICE=DURATION,...", "", "per-service idle timeouts over --lb-idle-timeout"),
            lb("udp-idle-timeout", "DURATION", Values.text(DEFAULT_UDP_IDLE_TIMEOUT), "a UDP flow idle both ways this long is dropped"),
            lb("drain-timeout", "DURATION", Values.text(DEFAULT_DRAIN_TIMEOUT), "how long connections to a removed or weight-0 instance may go on"),
            lb("connect-timeout", "DURATION", Values.text(DEFAULT_CONNECT_TIMEOUT), "upstream TCP connect timeout"),
            lb("connect-retries", "N", String.valueOf(DEFAULT_CONNECT_RETRIES), "other instances tried when a connect fails, 0-16"),
            lb("keepalive-idle", "DURATION", Values.text(DEFAULT_KEEPALIVE_IDLE), "TCP keep-alive idle time on both sides"),
            lb("affinity-timeout", "DURATION", Values.text(DEFAULT_AFFINITY_TIMEOUT), "how long sh (source hash) affinity outlives the last connection"),
            lb("proxy-protocol", "SERVICE,...", "", "services whose instances get a PROXY protocol v2 header (TCP)"),
            lb("splice", "true|false", "false", "relay TCP with splice(2) through Netty instead of buffers"),
            lb("threads", "N", "0", "event-loop threads; 0 is one per core"),
            lb("tcp-io", "native|netty", "native", "TCP relayed by portolan's own epoll loop or by Netty's"),
            lb("eject", "true|false", "true", "passive outlier ejection of instances whose connects fail"),
            lb("eject-window", "DURATION", Values.text(Eject.DEFAULT.window()), "the window of connect outcomes ejection looks at"),
            lb("eject-min-calls", "N", String.valueOf(Eject.DEFAULT.minimumCalls()), "connects in the window before an instance can be ejected"),
            lb("eject-failure-rate", "PERCENT", String.valueOf((int) Eject.DEFAULT.failureRatePercent()), "failed connects that eject an instance, 1-100"),
            lb("eject-duration", "DURATION", Values.text(Eject.DEFAULT.ejectFor()), "how long an ejected instance stays out before a probe"),
            lb("eject-max-percent", "PERCENT", String.valueOf((int) Math.round(Eject.DEFAULT.maxEjectedFraction() * 100)),
                    "most of a port's instances ejected at once (at least one)"));

    private static Flag lb(String name, String value, String dflt, String meaning) {
        return Flag.of("lb-" + name, value, dflt, meaning);
    }

    /** The names in {@link #FLAG_TABLE}. */
    public static final Set<String> FLAGS = Flag.valueNames(FLAG_TABLE);

    /** The settings given by the {@code lb-*} entries of {@code flags} over the defaults; other entries are ignored. */
    public static UserspaceConfig fromFlags(Map<String, String> flags) {
        Builder b = builder();
        for (Flag f : FLAG_TABLE) {
            String v = flags.get(f.name());
            if (v != null) {
                b.flag(f.name().substring("lb-".length()), v);
            }
        }
        return b.build();
    }

    /** The idle timeout of one service: its override, else the default. */
    public Duration idleTimeoutFor(String service) {
        return serviceIdleTimeouts.getOrDefault(service, idleTimeout);
    }

    public boolean proxyProtocolFor(String service) {
        return proxyProtocolServices.contains(service);
    }

    // ---- parse helpers for flag strings -------------------------------------------------------

    /** A comma-separated list of unicast address literals, e.g. {@code 10.0.0.5,10.0.0.6}; empty for none. */
    public static List<InetAddress> parseAddresses(String field, String s) {
        List<InetAddress> out = new ArrayList<>();
        if (s == null || s.isBlank()) {
            return out;
        }
        for (String part : s.split(",", -1)) {
            String a = part.strip();
            try {
                InetAddress addr = Validate.unicast(field, a);
                if (!out.contains(addr)) {
                    out.add(addr);
                }
            } catch (ValidationException e) {
                throw new ValidationException(field, s, "'" + a + "' is not a unicast address literal; expected e.g. 10.0.0.5,10.0.0.6");
            }
        }
        return out;
    }

    /** A comma-separated list of service names; empty for none. */
    public static Set<String> parseServices(String field, String s) {
        Set<String> out = new LinkedHashSet<>();
        if (s == null || s.isBlank()) {
            return out;
        }
        for (String part : s.split(",", -1)) {
            try {
                out.add(Validate.serviceName(field, part.strip()));
            } catch (ValidationException e) {
                throw new ValidationException(field, s, "'" + part.strip() + "' is not a service name: " + e.getMessage());
            }
        }
        return out;
    }

    /** {@code SERVICE=DURATION,...}, e.g. {@code db=8h,web=10m}. */
    public static Map<String, Duration> parseServiceDurations(String field, String s) {
        Map<String, Duration> out = new LinkedHashMap<>();
        if (s == null || s.isBlank()) {
            return out;
        }
        for (String part : s.split(",", -1)) {
            int eq = part.indexOf('=');
            if (eq <= 0) {
                throw new ValidationException(field, s, "expected SERVICE=DURATION,... e.g. db=8h,web=10m");
            }
            String name;
            try {
                name = Validate.serviceName(field, part.substring(0, eq).strip());
            } catch (ValidationException e) {
                throw new ValidationException(field, s, e.getMessage());
            }
            try {
                out.put(name, duration(field, part.substring(eq + 1)));
            } catch (ValidationException e) {
                throw new ValidationException(field, s, "service " + name + ": " + e.getMessage());
            }
        }
        return out;
    }

    /** A positive duration, at most a week. */
    private static Duration duration(String field, String s) {
        return Values.duration(field, s, Duration.ofMillis(1), Duration.ofDays(7));
    }

    private static void positive(String field, Duration d) {
        if (d == null || d.isZero() || d.isNegative()) {
            throw new ValidationException(field, d, "a positive duration");
        }
    }

    /** Mutable builder; {@link #flag} applies one {@code --lb-*} flag by name. */
    public static final class Builder {
        private String vipDevice = DEFAULT_VIP_DEVICE;
        private List<InetAddress> sourceAddresses = List.of();
        private int maxConnections = DEFAULT_MAX_CONNECTIONS;
        private Duration idleTimeout = DEFAULT_IDLE_TIMEOUT;
        private Map<String, Duration> serviceIdleTimeouts = Map.of();
        private Duration udpIdleTimeout = DEFAULT_UDP_IDLE_TIMEOUT;
        private Duration drainTimeout = DEFAULT_DRAIN_TIMEOUT;
        private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
        private int connectRetries = DEFAULT_CONNECT_RETRIES;
        private Duration keepAliveIdle = DEFAULT_KEEPALIVE_IDLE;
        private Duration affinityTimeout = DEFAULT_AFFINITY_TIMEOUT;
        private Set<String> proxyProtocolServices = Set.of();
        private boolean splice;
        private int threads;
        private TcpIo tcpIo = TcpIo.NATIVE;
        private Eject eject = Eject.DEFAULT;

        private Builder() {
        }

        public Builder vipDevice(String v) { vipDevice = v; return this; }
        public Builder sourceAddresses(List<InetAddress> v) { sourceAddresses = v; return this; }
        public Builder maxConnections(int v) { maxConnections = v; return this; }
        public Builder idleTimeout(Duration v) { idleTimeout = v; return this; }
        public Builder serviceIdleTimeouts(Map<String, Duration> v) { serviceIdleTimeouts = v; return this; }
        public Builder udpIdleTimeout(Duration v) { udpIdleTimeout = v; return this; }
        public Builder drainTimeout(Duration v) { drainTimeout = v; return this; }
        public Builder connectTimeout(Duration v) { connectTimeout = v; return this; }
        public Builder connectRetries(int v) { connectRetries = v; return this; }
        public Builder keepAliveIdle(Duration v) { keepAliveIdle = v; return this; }
        public Builder affinityTimeout(Duration v) { affinityTimeout = v; return this; }
        public Builder proxyProtocolServices(Set<String> v) { proxyProtocolServices = v; return this; }
        public Builder splice(boolean v) { splice = v; return this; }
        public Builder threads(int v) { threads = v; return this; }
        public Builder tcpIo(TcpIo v) { tcpIo = v; return this; }
        public Builder eject(Eject v) { eject = v; return this; }

        /**
         * Applies one flag by its name without the {@code --lb-} prefix, e.g.
         * {@code flag("source-addresses", "10.0.0.5,10.0.0.6")}. Names: vip-device,
         * source-addresses, max-connections, idle-timeout, service-idle-timeouts, udp-idle-timeout,
         * drain-timeout, connect-timeout, connect-retries, keepalive-idle, affinity-timeout,
         * proxy-protocol, splice, threads, tcp-io, eject, eject-window, eject-min-calls, eject-failure-rate,
         * eject-duration, eject-max-percent.
         */
        public Builder flag(String name, String value) {
            String f = "--lb-" + name;
            switch (name) {
                case "vip-device" -> vipDevice = VipAddresses.checkDevice(f, value, VipAddresses.MAX_LABELLED_DEVICE);
                case "source-addresses" -> sourceAddresses = parseAddresses(f, value);
                case "max-connections" -> maxConnections = Values.integer(f, value, 1, 10_000_000);
                case "idle-timeout" -> idleTimeout = duration(f, value);
                case "service-idle-timeouts" -> serviceIdleTimeouts = parseServiceDurations(f, value);
                case "udp-idle-timeout" -> udpIdleTimeout = duration(f, value);
                case "drain-timeout" -> drainTimeout = Values.duration(f, value, Duration.ZERO, Duration.ofDays(1));
                case "connect-timeout" -> connectTimeout = duration(f, value);
                case "connect-retries" -> connectRetries = Values.integer(f, value, 0, 16);
                case "keepalive-idle" -> keepAliveIdle = duration(f, value);
                case "affinity-timeout" -> affinityTimeout = duration(f, value);
                case "proxy-protocol" -> proxyProtocolServices = parseServices(f, value);
                case "splice" -> splice = Values.bool(f, value);
                case "threads" -> threads = Values.integer(f, value, 0, 256);
                case "tcp-io" -> tcpIo = TcpIo.parse(f, value);
                case "eject" -> eject = new Eject(Values.bool(f, value), eject.window(), eject.minimumCalls(),
                        eject.failureRatePercent(), eject.ejectFor(), eject.maxEjectedFraction());
                case "eject-window" -> eject = new Eject(eject.enabled(), duration(f, value), eject.minimumCalls(),
                        eject.failureRatePercent(), eject.ejectFor(), eject.maxEjectedFraction());
                case "eject-min-calls" -> eject = new Eject(eject.enabled(), eject.window(), Values.integer(f, value, 1, 100_000),
                        eject.failureRatePercent(), eject.ejectFor(), eject.maxEjectedFraction());
                case "eject-failure-rate" -> eject = new Eject(eject.enabled(), eject.window(), eject.minimumCalls(),
                        Values.integer(f, value, 1, 100), eject.ejectFor(), eject.maxEjectedFraction());
                case "eject-duration" -> eject = new Eject(eject.enabled(), eject.window(), eject.minimumCalls(),
                        eject.failureRatePercent(), duration(f, value), eject.maxEjectedFraction());
                case "eject-max-percent" -> eject = new Eject(eject.enabled(), eject.window(), eject.minimumCalls(),
                        eject.failureRatePercent(), eject.ejectFor(), Values.integer(f, value, 0, 100) / 100.0);
                default -> throw new ValidationException("flag", f, "unknown userspace data plane flag");
            }
            return this;
        }

        public UserspaceConfig build() {
            return new UserspaceConfig(vipDevice, sourceAddresses, maxConnections, idleTimeout, serviceIdleTimeouts,
                    udpIdleTimeout, drainTimeout, connectTimeout, connectRetries, keepAliveIdle, affinityTimeout,
                    proxyProtocolServices, splice, threads, tcpIo, eject);
        }
    }
}
