package io.portolan.dns;

import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.dns.answer.ZoneCompiler;
import io.portolan.dns.answer.ZoneTable;
import io.portolan.dns.forward.Forwarder;
import io.portolan.dns.forward.ResolvConf;
import io.portolan.dns.server.QueryHandler;
import io.portolan.dns.server.Transports;
import io.portolan.proto.ClusterSnapshot;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded DNS server. Start it, give it every published snapshot with {@link #update}, close
 * it on shutdown:
 *
 * <pre>{@code
 * DnsServer dns = DnsServer.start(config, registry);
 * publisher.subscribe(dns::update);
 * }</pre>
 *
 * {@link #update} precomputes every answer for the snapshot before it returns; the query after it
 * sees the new snapshot.
 */
public final class DnsServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(DnsServer.class);
    static final Path RESOLV_CONF = Path.of("/etc/resolv.conf");

    private final DnsConfig config;
    private final Transports transports;
    private final Forwarder forwarder;
    private final QueryHandler handler;
    private final ZoneCompiler compiler;

    private DnsServer(DnsConfig config, Transports transports, Forwarder forwarder, QueryHandler handler,
                      ZoneCompiler compiler) {
        this.config = config;
        this.transports = transports;
        this.forwarder = forwarder;
        this.handler = handler;
        this.compiler = compiler;
    }

    /**
     * How long inherited sockets wait for the first {@link #update} before they are read anyway (and
     * answered from the empty table: names outside the zone still work when no snapshot comes, e.g.
     * etcd is unreachable). A query that waited longer has been given up by most resolvers (glibc
     * waits 5 s per try).
     */
    public static final Duration INHERITED_HOLD = Duration.ofSeconds(5);

    /**
     * Binds every listen address (UDP and TCP) and starts answering from an empty snapshot.
     *
     * @throws IllegalStateException when an address cannot be bound (the message names it)
     */
    public static DnsServer start(DnsConfig config, MeterRegistry registry) {
        return start(config, registry, List.of());
    }

    /**
     * Like {@link #start(DnsConfig, MeterRegistry)}, serving the inherited sockets among
     * {@code inheritedFds} (file descriptors this process was handed bound, e.g. by systemd's socket
     * activation) instead of binding their addresses: each UDP socket and listening TCP socket whose
     * bound address and port equal a listen address serves that address and protocol; a listen
     * address and protocol without one is bound as usual; an inherited socket matching no listen
     * address is not served (a warning names its fd and address). Inherited sockets start reading
     * at the first {@link #update} (at the latest after {@link #INHERITED_HOLD}): queries that
     * arrived while no process served them wait in the socket until a snapshot can answer them.
     * They need Netty's epoll transport and O_NONBLOCK (systemd: {@code NonBlocking=yes}); UDP ones
     * are served on the event loops in both {@link DnsConfig.UdpIo} modes.
     *
     * @throws IllegalStateException when an address cannot be bound, or a matching inherited
     *                               socket cannot be served (the message names it)
     */
    public static DnsServer start(DnsConfig config, MeterRegistry registry, List<Integer> inheritedFds) {
        List<InetSocketAddress> upstreams = new ArrayList<>();
        List<InetSocketAddress> wanted = config.upstreams().isEmpty()
                ? ResolvConf.upstreams(RESOLV_CONF, config.listen()) : config.upstreams();
        for (InetSocketAddress u : wanted) {
            if (u.getPort() != 0 && !config.listen().contains(u)) {
                upstreams.add(u);
            } else {
                LOG.warn("upstream {} is this server itself; ignored", u);
            }
        }
        if (upstreams.isEmpty()) {
            LOG.warn("no DNS upstream: names outside {} get SERVFAIL", config.zone());
        }
        List<InetAddress> own = new ArrayList<>();
        for (InetSocketAddress l : config.listen()) {
            if (!l.getAddress().isAnyLocalAddress() && !own.contains(l.getAddress())) {
                own.add(l.getAddress());
            }
        }
        // With blocking UDP the event loops carry only TCP and the forwarder's upstream sockets.
        Transports transports = Transports.create(config.udpIo() == DnsConfig.UdpIo.BLOCKING
                ? Math.max(1, config.udpSockets() / 2) : config.udpSockets());
        Forwarder forwarder = null;
        try {
            forwarder = Forwarder.start(upstreams, config.forwardTimeout(), config.maxForwardsInFlight(), config.cacheBytes(),
                    transports.group(), transports.datagramClass(), transports.socketClass(), registry);
            ZoneCompiler compiler = new ZoneCompiler(config.zone(), config.ttl(), own);
            ZoneTable empty = compiler.compile(ClusterSnapshot.EMPTY);
            QueryHandler handler = new QueryHandler(empty, forwarder, config.recursionClients(), config.rateLimit(), registry);
            transports.bind(config.listen(), inheritedFds, handler, config.udpSockets(), config.udpIo());
            LOG.info("DNS on {} (zone {}, UDP {} x{}, {} transport, upstreams {})", transports.bound(), config.zone(),
                    config.udpIo() == DnsConfig.UdpIo.BLOCKING ? "blocking" : "event loop", config.udpSockets(),
                    transports.nativeEpoll() ? "epoll" : "nio", upstreams);
            if (transports.hasInherited()) {
                transports.group().schedule(transports::serveInherited, INHERITED_HOLD.toMillis(), TimeUnit.MILLISECONDS);
            }
            return new DnsServer(config, transports, forwarder, handler, compiler);
        } catch (BindException e) {
            close(forwarder, transports);
            throw new IllegalStateException(e.getMessage() + " (is another DNS server on it? choose another --dns-listen)", e);
        } catch (InterruptedException e) {
            close(forwarder, transports);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the DNS server", e);
        } catch (RuntimeException e) {
            close(forwarder, transports);
            throw e;
        }
    }

    private static void close(Forwarder f, Transports t) {
        if (f != null) {
            f.close();
        }
        t.close();
    }

    /**
     * Precomputes the answers for {@code snapshot} and makes them current; only the services changed
     * since the previous snapshot are compiled again (see {@link ZoneCompiler}). Meant for one
     * publisher thread; concurrent calls are serialised, and the table of the last call to finish
     * is the current one.
     */
    public synchronized void update(ClusterSnapshot snapshot) {
        handler.update(compiler.compile(snapshot));
        transports.serveInherited();
    }

    /** The addresses actually bound (a port 0 in the config replaced by the one chosen). */
    public List<InetSocketAddress> boundAddresses() {
        return transports.bound();
    }

    public DnsConfig config() {
        return config;
    }

    /** The upstreams in use after resolv.conf and self-exclusion. */
    public List<InetSocketAddress> upstreams() {
        return forwarder.upstreams();
    }

    @Override
    public void close() {
        close(forwarder, transports);
    }
}
