package io.portolan.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.dns.testing.Processes;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.testing.Snapshots;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.xbill.DNS.Message;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/**
 * A running server on a loopback port, asked by dig (UDP and TCP) and by dnsjava; UDP served by
 * blocking threads here, by event loops in {@link DnsServerEventLoopTest} (every test runs in both).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DnsServerTest {
    static final String Z = "portolan.internal.";
    static SimpleMeterRegistry registry = new SimpleMeterRegistry();
    static DnsServer server;
    static int port;

    static ClusterSnapshot snapshot(String webVip) {
        Snapshots s = Snapshots.builder()
                .vip("web", webVip, "http:80/tcp")
                .instance("web", "web-1", "10.0.0.1", "http:8080/tcp")
                .dnsrr("big", "http:80/tcp");
        for (int i = 0; i < 100; i++) {
            s.instance("big", "big-" + i, "10.2.0." + (i + 1), "http:8080/tcp");
        }
        return s.build(3);
    }

    DnsConfig.UdpIo udpIo() {
        return DnsConfig.UdpIo.BLOCKING;
    }

    @BeforeAll
    void start() {
        DnsConfig config = DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", "127.0.0.1:0", 53))
                .withUpstreams(List.of(new InetSocketAddress("127.0.0.1", Processes.freePort())))
                .withForwardTimeout(Duration.ofMillis(200))
                .withRecursionClients(DnsConfig.parseNetworks("--dns-recursion-clients", "10.0.0.0/8"))
                .withUdpSockets(2).withUdpIo(udpIo());
        server = DnsServer.start(config, registry);
        server.update(snapshot("10.99.0.10"));
        port = server.boundAddresses().get(0).getPort();
    }

    @AfterAll
    void stop() {
        server.close();
    }

    static String dig(String... args) {
        String[] argv = new String[args.length + 4];
        argv[0] = "dig";
        argv[1] = "@127.0.0.1";
        argv[2] = "-p";
        argv[3] = String.valueOf(port);
        System.arraycopy(args, 0, argv, 4, args.length);
        return Processes.ok(30, argv);
    }

    @Test
    void dig_vipNameOverUdp_vip() {
        assertEquals("10.99.0.10\n", dig("+short", "web." + Z, "A"));
        assertEquals("10.99.0.10\n", dig("+short", "web", "A"));
    }

    @Test
    void dig_vipNameOverTcp_vip() {
        assertEquals("10.99.0.10\n", dig("+short", "+tcp", "web." + Z, "A"));
    }

    @Test
    void dig_srv_targetAndAdditional() {
        String out = dig("+noall", "+answer", "+additional", "_http._tcp.web." + Z, "SRV");
        assertTrue(out.contains("SRV\t0 0 80 web." + Z), out);
        assertTrue(out.matches("(?s).*web\\." + Z.replace(".", "\\.") + "\\s+5\\s+IN\\s+A\\s+10\\.99\\.0\\.10.*"), out);
    }

    @Test
    void dig_unknownName_nxdomainAuthoritativeWithSoa() {
        String out = dig("nope." + Z, "A");
        assertTrue(out.contains("status: NXDOMAIN"), out);
        assertTrue(out.matches("(?s).*flags: qr aa rd;.*"), out);
        assertTrue(out.contains("SOA\tns.dns." + Z + " hostmaster." + Z), out);
    }

    @Test
    void dig_ptrOfVip_serviceName() {
        assertEquals("web." + Z + "\n", dig("+short", "-x", "10.99.0.10"));
    }

    @Test
    void dig_hundredInstancesOverUdp_truncated() {
        String out = dig("+ignore", "+bufsize=1232", "big." + Z, "A");
        assertTrue(out.matches("(?s).*flags: qr aa tc rd;.*"), out);
        assertTrue(out.contains("ANSWER: 0,"), out);
    }

    @Test
    void dig_hundredInstancesOverTcp_whole() {
        String out = dig("+tcp", "+short", "big." + Z, "A");
        assertEquals(100, out.trim().split("\n").length, out);
    }

    @Test
    void dig_hundredInstancesUdpThenTcpRetry_whole() {
        String out = dig("+short", "big." + Z, "A"); // dig retries over TCP on TC
        assertEquals(100, out.trim().split("\n").length, out);
    }

    @Test
    void dnsrr_repeatedQueries_orderChanges() throws Exception {
        java.util.Set<String> firsts = new java.util.HashSet<>();
        for (int i = 0; i < 20; i++) {
            firsts.add(ask("tasks.web." + Z, Type.A).getSection(Section.ANSWER).get(0).rdataToString());
            Message big = ask("big." + Z, Type.A); // TC over UDP, then TCP
            assertEquals(100, big.getSection(Section.ANSWER).size());
            firsts.add(big.getSection(Section.ANSWER).get(0).rdataToString());
        }
        assertTrue(firsts.size() > 5, "first addresses seen: " + firsts);
    }

    @Test
    void dig_outsideZoneFromDisallowedClient_refused() {
        String out = dig("example.com", "A");
        assertTrue(out.contains("status: REFUSED"), out);
        assertFalse(out.matches("(?s).*flags:[^;]* ra[ ;].*"), out);
    }

    @Test
    void update_newSnapshot_nextQuerySeesIt() throws Exception {
        try {
            for (int i = 0; i < 20; i++) {
                String vip = "10.99.1." + (i + 1);
                server.update(snapshot(vip));
                Message m = ask("web." + Z, Type.A);
                assertEquals(vip, m.getSection(Section.ANSWER).get(0).rdataToString());
            }
        } finally {
            server.update(snapshot("10.99.0.10"));
        }
    }

    @Test
    void metrics_queriesCountedByTypeAndRcode() throws Exception {
        ask("nope." + Z, Type.AAAA);
        double n = registry.get("portolan.dns.queries").tag("type", "AAAA").tag("rcode", "NXDOMAIN").counter().count();
        assertTrue(n >= 1, "count " + n);
    }

    @Test
    void malformed_headerOnlyGarbage_formerrAndServerStillUp() throws Exception {
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(2000);
            byte[] garbage = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 63, 'a'};
            s.send(new DatagramPacket(garbage, garbage.length, new InetSocketAddress("127.0.0.1", port)));
            DatagramPacket p = new DatagramPacket(new byte[512], 512);
            s.receive(p);
            Message m = new Message(Arrays.copyOf(p.getData(), p.getLength()));
            assertEquals(Rcode.FORMERR, m.getRcode());
            assertEquals(0x1234, m.getHeader().getID());
            byte[] tiny = {1, 2, 3};
            s.send(new DatagramPacket(tiny, tiny.length, new InetSocketAddress("127.0.0.1", port)));
            s.setSoTimeout(300);
            try {
                s.receive(p);
                throw new AssertionError("a packet shorter than a header must be dropped");
            } catch (SocketTimeoutException expected) {
                // dropped
            }
        }
        assertEquals(Rcode.NOERROR, ask("web." + Z, Type.A).getRcode());
    }

    @Test
    void rateLimit_floodFromOneSource_refusedOrDroppedPastTheLimit() throws Exception {
        DnsConfig config = DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", "127.0.0.1:0", 53))
                .withUpstreams(List.of(new InetSocketAddress("127.0.0.1", 9))).withRateLimit(20).withUdpSockets(1).withUdpIo(udpIo());
        try (DnsServer limited = DnsServer.start(config, new SimpleMeterRegistry()); DatagramSocket s = new DatagramSocket()) {
            limited.update(snapshot("10.99.0.10"));
            byte[] q = io.portolan.dns.testing.Dns.query("web." + Z, Type.A);
            InetSocketAddress to = limited.boundAddresses().get(0);
            for (int i = 0; i < 200; i++) {
                s.send(new DatagramPacket(q, q.length, to));
            }
            s.setSoTimeout(500);
            int ok = 0;
            int refused = 0;
            DatagramPacket p = new DatagramPacket(new byte[512], 512);
            try {
                while (true) {
                    s.receive(p);
                    int rcode = p.getData()[3] & 0xF;
                    if (rcode == Rcode.REFUSED) {
                        refused++;
                    } else {
                        ok++;
                    }
                }
            } catch (SocketTimeoutException done) {
                // all read
            }
            assertTrue(ok >= 15 && ok <= 40, "answered " + ok);
            assertTrue(refused >= 50 && refused <= 110, "refused " + refused);
        }
    }

    @Test
    void tcp_twoPipelinedQueriesOnOneConnection_bothAnswered() throws Exception {
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", port)) {
            sock.setSoTimeout(3000);
            java.io.DataOutputStream out = new java.io.DataOutputStream(sock.getOutputStream());
            for (String name : new String[] {"web." + Z, "tasks.web." + Z}) {
                byte[] q = io.portolan.dns.testing.Dns.query(name, Type.A);
                out.writeShort(q.length);
                out.write(q);
            }
            out.flush();
            java.io.DataInputStream in = new java.io.DataInputStream(sock.getInputStream());
            java.util.Set<String> answered = new java.util.HashSet<>();
            for (int i = 0; i < 2; i++) {
                byte[] r = new byte[in.readUnsignedShort()];
                in.readFully(r);
                Message m = new Message(r);
                assertEquals(Rcode.NOERROR, m.getRcode());
                answered.add(m.getQuestion().getName().toString());
            }
            assertEquals(java.util.Set.of("web." + Z, "tasks.web." + Z), answered);
        }
    }

    @Test
    void tcp_randomFrames_answeredOrDroppedThenServerStillAnswers() throws Exception {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", port)) {
            java.io.DataOutputStream out = new java.io.DataOutputStream(new java.io.BufferedOutputStream(sock.getOutputStream()));
            for (int i = 0; i < 2000; i++) {
                byte[] frame = new byte[rnd.nextInt(100)];
                for (int k = 0; k < frame.length; k++) {
                    frame[k] = (byte) rnd.nextInt(256);
                }
                out.writeShort(frame.length);
                out.write(frame);
            }
            out.flush();
            sock.shutdownOutput();
            sock.setSoTimeout(5000);
            java.io.InputStream in = sock.getInputStream();
            while (in.read(new byte[4096]) >= 0) {
                // answers to the frames that had a readable header; the server closes after our FIN
            }
        }
        assertEquals(Rcode.NOERROR, ask("web." + Z, Type.A).getRcode());
    }

    @Test
    void start_ipv6Listener_answersOverIpv6() throws Exception {
        DnsConfig config = DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", "[::1]:0", 53))
                .withUpstreams(List.of(new InetSocketAddress("127.0.0.1", 9))).withUdpSockets(1).withUdpIo(udpIo());
        try (DnsServer v6 = DnsServer.start(config, new SimpleMeterRegistry())) {
            v6.update(snapshot("10.99.0.10"));
            InetSocketAddress bound = v6.boundAddresses().get(0);
            String out = Processes.ok(30, "dig", "@::1", "-p", String.valueOf(bound.getPort()), "+short", "web." + Z);
            assertEquals("10.99.0.10\n", out);
            String ns = Processes.ok(30, "dig", "@::1", "-p", String.valueOf(bound.getPort()), "+short", "ns.dns." + Z, "AAAA");
            assertEquals("::1\n", ns);
        }
    }

    static Message ask(String name, int type) throws Exception {
        org.xbill.DNS.SimpleResolver r = new org.xbill.DNS.SimpleResolver("127.0.0.1");
        r.setPort(port);
        r.setTimeout(Duration.ofSeconds(3));
        return r.send(Message.newQuery(org.xbill.DNS.Record.newRecord(org.xbill.DNS.Name.fromString(name), type, org.xbill.DNS.DClass.IN)));
    }
}
