package io.portolan.dns.bench;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.dns.DnsConfig;
import io.portolan.dns.DnsServer;
import io.portolan.proto.testing.Snapshots;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * Runs the DNS server alone, for the bench and for tests that need it in another network
 * namespace. Serves {@code svc0..svcN-1} in vip mode ({@code svcI -> 10.96.I/250.I%250+1}) and,
 * with {@code --demo}, {@code web} (vip 10.99.0.10, instances 10.0.0.1-2) and {@code db} (dnsrr,
 * 10.0.1.1-3). Prints {@code READY ADDR:PORT} once bound; runs until stdin closes (or, with {@code --forever},
 * until it is killed).
 *
 * <pre>
 * BenchServer [--listen ADDR:PORT] [--services N] [--demo] [--upstream ADDR:PORT,...] [--udp-sockets N] [--rate-limit N]
 *             [--udp-io blocking|eventloop] [--forever]
 * </pre>
 */
public final class BenchServer {
    private BenchServer() {
    }

    public static void main(String[] args) throws Exception {
        String listen = "127.0.0.1:0";
        int services = 1000;
        boolean demo = false;
        String upstream = null;
        int sockets = Runtime.getRuntime().availableProcessors();
        int rate = 0;
        boolean forever = false;
        DnsConfig.UdpIo io = DnsConfig.UdpIo.BLOCKING;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--listen" -> listen = args[++i];
                case "--services" -> services = Integer.parseInt(args[++i]);
                case "--demo" -> demo = true;
                case "--upstream" -> upstream = args[++i];
                case "--udp-sockets" -> sockets = Integer.parseInt(args[++i]);
                case "--rate-limit" -> rate = Integer.parseInt(args[++i]);
                case "--forever" -> forever = true;
                case "--udp-io" -> io = DnsConfig.UdpIo.parse("--udp-io", args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<InetSocketAddress> upstreams = upstream == null ? List.of() : DnsConfig.parseAddresses("--upstream", upstream, 53);
        DnsConfig config = DnsConfig.defaults(DnsConfig.parseAddresses("--listen", listen, 53))
                .withUpstreams(upstreams).withUdpSockets(sockets).withRateLimit(rate).withUdpIo(io);
        DnsServer server = DnsServer.start(config, new SimpleMeterRegistry());
        Snapshots s = Snapshots.builder();
        for (int i = 0; i < services; i++) {
            s.vip("svc" + i, address(i));
        }
        if (demo) {
            s.vip("web", "10.99.0.10", "http:80/tcp")
                    .instance("web", "web-1", "10.0.0.1", "http:8080/tcp")
                    .instance("web", "web-2", "10.0.0.2", "http:8080/tcp")
                    .dnsrr("db", "pg:5432/tcp")
                    .instance("db", "db-1", "10.0.1.1", "pg:5432/tcp")
                    .instance("db", "db-2", "10.0.1.2", "pg:5432/tcp")
                    .instance("db", "db-3", "10.0.1.3", "pg:5432/tcp");
        }
        server.update(s.build(1));
        InetSocketAddress bound = server.boundAddresses().get(0);
        System.out.println("READY " + bound.getAddress().getHostAddress() + ":" + bound.getPort());
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(server::close));
        if (forever) {
            Thread.sleep(Long.MAX_VALUE);
        }
        while (System.in.read() >= 0) {
            // run until stdin closes
        }
        server.close();
    }

    /** The VIP of {@code svcI}: 10.96.(I/250).(I%250+1). */
    public static String address(int i) {
        return "10.96." + (i / 250) + "." + (i % 250 + 1);
    }
}
