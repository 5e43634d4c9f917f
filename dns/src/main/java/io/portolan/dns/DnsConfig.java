package io.portolan.dns;

import io.portolan.dns.answer.ZoneTable;
import io.portolan.proto.Validate;
import io.portolan.proto.Values;
import io.portolan.proto.Flag;
import io.portolan.proto.ValidationException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The DNS server's configuration, built from its flags by {@link #fromFlags} (names in {@link #FLAGS}).
 * Every flag string is parsed with the project's value grammar ({@link Values}); errors are
 * {@link ValidationException}s naming the flag and the value.
 *
 * @param listen where to answer, UDP and TCP ({@code --dns-listen ADDR:PORT,...}); default 127.0.0.11:53
 * @param zone the zone answered authoritatively ({@code --dns-zone}); default {@value #DEFAULT_ZONE}
 * @param upstreams where names outside the zone go ({@code --dns-upstream ADDR:PORT,...}); empty: the
 *        nameservers of /etc/resolv.conf, minus this server's own addresses
 * @param ttl TTL of every answer in the zone and the SOA minimum (negative TTL), seconds ({@code --dns-ttl});
 *        default {@value #DEFAULT_TTL}
 * @param recursionClients client networks whose queries outside the zone are forwarded
 *        ({@code --dns-recursion-clients CIDR,...}); others get REFUSED. Default: loopback and the
 *        private ranges container networks come from (RFC 1918, RFC 6598, ULA)
 * @param rateLimit queries per second per source address, 0 for none ({@code --dns-rate-limit}); past it
 *        every other query gets REFUSED and the rest are dropped
 * @param forwardTimeout how long one upstream gets before the next is tried ({@code --dns-forward-timeout}); default 1 s
 * @param cacheBytes memory bound of the forward cache ({@code --dns-cache-size}); default 16 MiB, 0 disables it
 * @param maxForwardsInFlight distinct questions upstream at once; past it SERVFAIL ({@code --dns-max-forwards}); default 1024
 * @param udpSockets UDP sockets per listen address (SO_REUSEPORT, one thread or event loop each)
 *        ({@code --dns-udp-sockets}); default the number of processors
 * @param udpIo how UDP sockets are served ({@code --dns-udp-io}); default {@link UdpIo#BLOCKING}
 */
public record DnsConfig(List<InetSocketAddress> listen, String zone, List<InetSocketAddress> upstreams, int ttl,
                        List<ClientNetwork> recursionClients, int rateLimit, Duration forwardTimeout, long cacheBytes,
                        int maxForwardsInFlight, int udpSockets, UdpIo udpIo) {
    /** How the UDP sockets are served. */
    public enum UdpIo {
        /**
         * A thread per socket in a blocking receive, answer, send loop: two system calls per query.
         * The faster one in {@code bench/dns} (about 0.9x the CPU per query of the event loop).
         */
        BLOCKING,
        /** Netty's native epoll event loops (NIO off Linux), reading datagrams in batches with recvmmsg. */
        EVENT_LOOP;

        /** {@code blocking} or {@code eventloop}. */
        public static UdpIo parse(String field, String v) {
            if ("blocking".equals(v)) {
                return BLOCKING;
            }
            if ("eventloop".equals(v)) {
                return EVENT_LOOP;
            }
            throw new ValidationException(field, v, "blocking or eventloop");
        }
    }

    /**
     * {@code .internal} is reserved by ICANN for private use (2024) and will never be delegated, so
     * the zone cannot shadow a real name, unlike {@code .local} (mDNS) or an invented TLD.
     */
    public static final String DEFAULT_ZONE = "portolan.internal.";
    public static final int DEFAULT_TTL = 5;
    public static final int MAX_TTL = 3600;
    public static final Duration DEFAULT_FORWARD_TIMEOUT = Duration.ofSeconds(1);
    public static final long DEFAULT_CACHE_BYTES = 16L << 20;
    public static final int DEFAULT_MAX_FORWARDS = 1024;
    public static final String DEFAULT_RECURSION_CLIENTS =
            "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7";

    public DnsConfig {
        if (listen == null || listen.isEmpty()) {
            throw new ValidationException("--dns-listen", listen, "at least one ADDR:PORT is needed");
        }
        listen = List.copyOf(listen);
        zone = parseZone("--dns-zone", zone == null ? DEFAULT_ZONE : zone);
        upstreams = upstreams == null ? List.of() : List.copyOf(upstreams);
        if (ttl < 0 || ttl > MAX_TTL) {
            throw new ValidationException("--dns-ttl", ttl, "a TTL is 0-" + MAX_TTL + " seconds");
        }
        recursionClients = recursionClients == null ? parseNetworks("--dns-recursion-clients", DEFAULT_RECURSION_CLIENTS)
                : List.copyOf(recursionClients);
        if (rateLimit < 0) {
            throw new ValidationException("--dns-rate-limit", rateLimit, "queries per second per source, 0 for no limit");
        }
        if (forwardTimeout == null) {
            forwardTimeout = DEFAULT_FORWARD_TIMEOUT;
        }
        if (forwardTimeout.toMillis() < 10 || forwardTimeout.toSeconds() > 30) {
            throw new ValidationException("--dns-forward-timeout", forwardTimeout, "between 10ms and 30s");
        }
        if (cacheBytes < 0) {
            throw new ValidationException("--dns-cache-size", cacheBytes, "a size in bytes, 0 to disable the cache");
        }
        if (maxForwardsInFlight < 1) {
            throw new ValidationException("--dns-max-forwards", maxForwardsInFlight, "at least 1");
        }
        if (udpSockets < 1 || udpSockets > 64) {
            throw new ValidationException("--dns-udp-sockets", udpSockets, "1-64");
        }
        if (udpIo == null) {
            udpIo = UdpIo.BLOCKING;
        }
    }

    public static final String DEFAULT_LISTEN = "127.0.0.11:53";

    /**
     * The flags this module owns: the table {@link #fromFlags} parses and {@code portolan agent --help}
     * prints (add a row here and a case in {@code fromFlags}); {@code --dns-listen none} turns the server off.
     */
    public static final List<Flag> FLAG_TABLE = List.of(
            Flag.of("dns-listen", "ADDR:PORT,...|none", DEFAULT_LISTEN, "where DNS answers, UDP and TCP; none turns DNS off"),
            Flag.of("dns-zone", "ZONE", DEFAULT_ZONE, "the zone answered authoritatively (web, web.ZONE, tasks.web, SRV, PTR)"),
            Flag.of("dns-upstream", "ADDR:PORT,...", "(the nameservers of /etc/resolv.conf)", "where names outside the zone are forwarded"),
            Flag.of("dns-ttl", "SECONDS", String.valueOf(DEFAULT_TTL), "TTL of every answer in the zone, and the negative TTL"),
            Flag.of("dns-recursion-clients", "CIDR,...", DEFAULT_RECURSION_CLIENTS, "clients whose queries outside the zone are forwarded"),
            Flag.of("dns-rate-limit", "QPS", "0", "UDP queries per second per client; past it half are REFUSED, half dropped; 0 is off"),
            Flag.of("dns-forward-timeout", "DURATION", Values.text(DEFAULT_FORWARD_TIMEOUT), "how long one upstream may take"),
            Flag.of("dns-cache-size", "SIZE", "16m", "memory for the cache of forwarded answers; 0 is no cache"),
            Flag.of("dns-max-forwards", "N", String.valueOf(DEFAULT_MAX_FORWARDS), "forwarded queries in flight at most"),
            Flag.of("dns-udp-sockets", "N", "(one per core)", "UDP sockets per address (SO_REUSEPORT), 1-64"),
            Flag.of("dns-udp-io", "blocking|eventloop", "blocking", "UDP served by blocking threads or Netty event loops"));

    /** The names in {@link #FLAG_TABLE}, without dashes. */
    public static final Set<String> FLAGS = Flag.valueNames(FLAG_TABLE);

    /**
     * The settings given by {@code flags} (names without dashes; entries that are not in {@link #FLAGS}
     * are other modules' and ignored) over the defaults, or null with {@code dns-listen none}.
     */
    public static DnsConfig fromFlags(Map<String, String> flags) {
        String listen = flags.getOrDefault("dns-listen", DEFAULT_LISTEN);
        boolean off = listen.equals("none"); // the other flags are still checked: a bad value is refused either way
        DnsConfig d = defaults(parseAddresses("--dns-listen", off ? DEFAULT_LISTEN : listen, 53));
        for (String name : new java.util.TreeSet<>(flags.keySet())) {
            String v = flags.get(name);
            String f = "--" + name;
            d = switch (name) {
                case "dns-zone" -> d.withZone(parseZone(f, v));
                case "dns-upstream" -> d.withUpstreams(parseAddresses(f, v, 53));
                case "dns-ttl" -> d.withTtl(Values.integer(f, v, 0, MAX_TTL));
                case "dns-recursion-clients" -> d.withRecursionClients(parseNetworks(f, v));
                case "dns-rate-limit" -> d.withRateLimit(Values.integer(f, v, 0, 10_000_000));
                case "dns-forward-timeout" -> d.withForwardTimeout(Values.duration(f, v, Duration.ofMillis(10), Duration.ofSeconds(30)));
                case "dns-cache-size" -> d.withCacheBytes(Values.size(f, v, 0, 1L << 40));
                case "dns-max-forwards" -> d.withMaxForwardsInFlight(Values.integer(f, v, 1, 1_000_000));
                case "dns-udp-sockets" -> d.withUdpSockets(Values.integer(f, v, 1, 64));
                case "dns-udp-io" -> d.withUdpIo(UdpIo.parse(f, v));
                default -> d;
            };
        }
        return off ? null : d;
    }

    /** The defaults, listening on {@code listen}. */
    public static DnsConfig defaults(List<InetSocketAddress> listen) {
        return new DnsConfig(listen, DEFAULT_ZONE, List.of(), DEFAULT_TTL, null, 0, DEFAULT_FORWARD_TIMEOUT,
                DEFAULT_CACHE_BYTES, DEFAULT_MAX_FORWARDS, Math.max(1, Runtime.getRuntime().availableProcessors()), UdpIo.BLOCKING);
    }

    /** The defaults, listening on 127.0.0.11:53 (as Docker's embedded DNS). */
    public static DnsConfig defaults() {
        return defaults(parseAddresses("--dns-listen", DEFAULT_LISTEN, 53));
    }

    public DnsConfig withListen(List<InetSocketAddress> v) {
        return new DnsConfig(v, zone, upstreams, ttl, recursionClients, rateLimit, forwardTimeout, cacheBytes, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withZone(String v) {
        return new DnsConfig(listen, v, upstreams, ttl, recursionClients, rateLimit, forwardTimeout, cacheBytes, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withUpstreams(List<InetSocketAddress> v) {
        return new DnsConfig(listen, zone, v, ttl, recursionClients, rateLimit, forwardTimeout, cacheBytes, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withTtl(int v) {
        return new DnsConfig(listen, zone, upstreams, v, recursionClients, rateLimit, forwardTimeout, cacheBytes, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withRecursionClients(List<ClientNetwork> v) {
        return new DnsConfig(listen, zone, upstreams, ttl, v, rateLimit, forwardTimeout, cacheBytes, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withRateLimit(int v) {
        return new DnsConfig(listen, zone, upstreams, ttl, recursionClients, v, forwardTimeout, cacheBytes, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withForwardTimeout(Duration v) {
        return new DnsConfig(listen, zone, upstreams, ttl, recursionClients, rateLimit, v, cacheBytes, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withCacheBytes(long v) {
        return new DnsConfig(listen, zone, upstreams, ttl, recursionClients, rateLimit, forwardTimeout, v, maxForwardsInFlight, udpSockets, udpIo);
    }

    public DnsConfig withMaxForwardsInFlight(int v) {
        return new DnsConfig(listen, zone, upstreams, ttl, recursionClients, rateLimit, forwardTimeout, cacheBytes, v, udpSockets, udpIo);
    }

    public DnsConfig withUdpIo(UdpIo v) {
        return new DnsConfig(listen, zone, upstreams, ttl, recursionClients, rateLimit, forwardTimeout, cacheBytes, maxForwardsInFlight, udpSockets, v);
    }

    public DnsConfig withUdpSockets(int v) {
        return new DnsConfig(listen, zone, upstreams, ttl, recursionClients, rateLimit, forwardTimeout, cacheBytes, maxForwardsInFlight, v, udpIo);
    }

    /**
     * Parses {@code ADDR[:PORT],...}: IPv4 {@code 127.0.0.11:53}, IPv6 in brackets {@code [::1]:53}; a
     * missing port is {@code defaultPort}. Literals only, never resolved.
     */
    public static List<InetSocketAddress> parseAddresses(String field, String spec, int defaultPort) {
        if (spec == null || spec.isBlank()) {
            throw new ValidationException(field, spec, "expected ADDR[:PORT],..., e.g. 127.0.0.11:53,[::1]:53");
        }
        List<InetSocketAddress> out = new ArrayList<>();
        for (String part : spec.split(",")) {
            String s = part.trim();
            String host;
            String port = null;
            if (s.startsWith("[")) {
                int close = s.indexOf(']');
                if (close < 0 || (close + 1 < s.length() && s.charAt(close + 1) != ':')) {
                    throw new ValidationException(field, s, "expected [IPV6]:PORT");
                }
                host = s.substring(1, close);
                port = close + 1 < s.length() ? s.substring(close + 2) : null;
            } else {
                int colon = s.indexOf(':');
                if (colon >= 0 && s.indexOf(':', colon + 1) >= 0) {
                    host = s; // bare IPv6, no port
                } else if (colon >= 0) {
                    host = s.substring(0, colon);
                    port = s.substring(colon + 1);
                } else {
                    host = s;
                }
            }
            InetAddress a;
            try {
                a = Validate.address(field, host);
            } catch (ValidationException e) {
                throw new ValidationException(field, s, "not an IP address literal (names are not resolved)");
            }
            int p = defaultPort;
            if (port != null) {
                p = Values.integer(field, port, 0, 65535);
            }
            out.add(new InetSocketAddress(a, p));
        }
        return out;
    }

    /** A zone name: labels of letters, digits and '-', lower-cased, made absolute. */
    public static String parseZone(String field, String zone) {
        if (zone == null || zone.isBlank() || zone.equals(".")) {
            throw new ValidationException(field, zone, "a zone is a domain name such as portolan.internal");
        }
        String z = ZoneTable.normalizeZone(zone.trim());
        if (z.length() > 200) {
            throw new ValidationException(field, zone, "a zone name is at most 200 characters (room for service names)");
        }
        for (String label : z.substring(0, z.length() - 1).split("\\.", -1)) {
            boolean ok = !label.isEmpty() && label.length() <= 63 && label.charAt(0) != '-' && label.charAt(label.length() - 1) != '-';
            for (int i = 0; ok && i < label.length(); i++) {
                char c = label.charAt(i);
                ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
            }
            if (!ok) {
                throw new ValidationException(field, zone, "each label is 1-63 letters, digits or '-' (not first or last)");
            }
        }
        return z;
    }

    /** Parses {@code CIDR,...} (a bare address is a host network). */
    public static List<ClientNetwork> parseNetworks(String field, String spec) {
        if (spec == null) {
            throw new ValidationException(field, null, "expected CIDR,..., e.g. 127.0.0.0/8,172.16.0.0/12");
        }
        List<ClientNetwork> out = new ArrayList<>();
        for (String part : spec.split(",")) {
            if (!part.isBlank()) {
                out.add(ClientNetwork.parse(field, part.trim()));
            }
        }
        return out;
    }
}
