package io.portolan.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.dns.testing.Processes;
import io.portolan.proto.testing.Snapshots;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.SimpleResolver;
import org.xbill.DNS.Type;

/** Forwarding against a real upstream: dnsmasq on a loopback port, started and stopped by the test. */
class ForwardingTest {
    static final String BIG_TXT;

    static {
        StringBuilder b = new StringBuilder("big.test");
        for (char c = 'a'; c < 'g'; c++) {
            b.append(",\"").append(String.valueOf(c).repeat(250)).append('"');
        }
        BIG_TXT = b.toString();
    }

    final List<Process> upstreams = new ArrayList<>();
    final List<DnsServer> servers = new ArrayList<>();
    final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @AfterEach
    void cleanUp() throws Exception {
        for (DnsServer s : servers) {
            s.close();
        }
        for (Process p : upstreams) {
            p.destroy();
            p.waitFor(5, TimeUnit.SECONDS);
        }
    }

    /** dnsmasq answering ext.test (and below) with 192.0.2.7 at TTL 2, and a TXT too big for UDP. */
    Process dnsmasq(int port) throws Exception {
        Process p = new ProcessBuilder("dnsmasq", "-k", "--conf-file=/dev/null", "--port=" + port,
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root",
                "--pid-file=", "--address=/ext.test/192.0.2.7", "--local-ttl=2", "--txt-record=" + BIG_TXT)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        upstreams.add(p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (Processes.run(5, "dig", "@127.0.0.1", "-p", String.valueOf(port), "+time=1", "+tries=1", "+short", "ext.test").out()
                    .contains("192.0.2.7")) {
                return p;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("dnsmasq did not start on port " + port);
    }

    /** How UDP is served; {@link ForwardingEventLoopTest} runs every test again with the event loops. */
    DnsConfig.UdpIo udpIo() {
        return DnsConfig.UdpIo.BLOCKING;
    }

    DnsServer server(Duration timeout, InetSocketAddress... upstreams) {
        DnsConfig config = DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", "127.0.0.1:0", 53))
                .withUpstreams(List.of(upstreams)).withForwardTimeout(timeout).withUdpSockets(1).withUdpIo(udpIo());
        DnsServer s = DnsServer.start(config, registry);
        s.update(Snapshots.builder().vip("web", "10.99.0.10").build(1));
        servers.add(s);
        return s;
    }

    static Message ask(DnsServer s, String name, int type, boolean tcp) throws Exception {
        SimpleResolver r = new SimpleResolver(s.boundAddresses().get(0));
        r.setTCP(tcp);
        r.setTimeout(Duration.ofSeconds(5));
        return r.send(Message.newQuery(Record.newRecord(Name.fromString(name), type, DClass.IN)));
    }

    @Test
    void forward_nameOutsideZone_answeredByUpstreamWithRecursionAvailable() throws Exception {
        int port = Processes.freePort();
        dnsmasq(port);
        DnsServer s = server(Duration.ofSeconds(1), new InetSocketAddress("127.0.0.1", port));
        Message m = ask(s, "ext.test.", Type.A, false);
        assertEquals(Rcode.NOERROR, m.getRcode());
        assertEquals("192.0.2.7", m.getSection(Section.ANSWER).get(0).rdataToString());
        assertTrue(m.getHeader().getFlag(Flags.RA));
        assertTrue(m.getSection(Section.ANSWER).get(0).getTTL() <= 2);
        Message tcp = ask(s, "ExT.test.", Type.A, true);
        assertEquals("192.0.2.7", tcp.getSection(Section.ANSWER).get(0).rdataToString());
        assertEquals("ExT.test.", tcp.getQuestion().getName().toString(), "the client's case is echoed");
    }

    @Test
    void forward_firstUpstreamSilent_failsOverToTheNext() throws Exception {
        int port = Processes.freePort();
        dnsmasq(port);
        DnsServer s = server(Duration.ofMillis(300), new InetSocketAddress("127.0.0.1", Processes.freePort()),
                new InetSocketAddress("127.0.0.1", port));
        long start = System.nanoTime();
        Message m = ask(s, "fail.ext.test.", Type.A, false);
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertEquals("192.0.2.7", m.getSection(Section.ANSWER).get(0).rdataToString());
        assertTrue(ms < 1500, "took " + ms + " ms");
        // the upstream that answered is asked first from now on: no timeout
        start = System.nanoTime();
        ask(s, "second.ext.test.", Type.A, false);
        assertTrue((System.nanoTime() - start) / 1_000_000 < 250, "preferred upstream");
    }

    @Test
    void forward_upstreamStopped_cachedUntilTtlThenServfailWithinTimeout() throws Exception {
        int port = Processes.freePort();
        Process upstream = dnsmasq(port);
        DnsServer s = server(Duration.ofMillis(400), new InetSocketAddress("127.0.0.1", port));
        assertEquals(Rcode.NOERROR, ask(s, "cache.ext.test.", Type.A, false).getRcode());
        long fetched = System.nanoTime();
        upstream.destroy();
        upstream.waitFor(5, TimeUnit.SECONDS);
        Message cached = ask(s, "cache.ext.test.", Type.A, false);
        assertEquals("192.0.2.7", cached.getSection(Section.ANSWER).get(0).rdataToString(), "served from the cache");
        assertTrue(cached.getSection(Section.ANSWER).get(0).getTTL() <= 2);
        long sinceFetch = (System.nanoTime() - fetched) / 1_000_000;
        Thread.sleep(Math.max(0, 2300 - sinceFetch));
        long start = System.nanoTime();
        Message expired = ask(s, "cache.ext.test.", Type.A, false);
        long ms = (System.nanoTime() - start) / 1_000_000;
        assertEquals(Rcode.SERVFAIL, expired.getRcode(), "TTL ran out, upstream gone");
        assertTrue(ms >= 350 && ms < 1200, "SERVFAIL after the timeout, took " + ms + " ms");
        double hits = registry.get("portolan.dns.cache.requests").tag("result", "hit").counter().count();
        assertTrue(hits >= 1);
    }

    @Test
    void forward_truncatedByUpstream_retriedOverTcp() throws Exception {
        int port = Processes.freePort();
        dnsmasq(port);
        DnsServer s = server(Duration.ofSeconds(1), new InetSocketAddress("127.0.0.1", port));
        Message m = ask(s, "big.test.", Type.TXT, true);
        assertEquals(Rcode.NOERROR, m.getRcode());
        assertEquals(1, m.getSection(Section.ANSWER).size());
        assertTrue(m.getSection(Section.ANSWER).get(0).rdataToString().contains("ffff"));
        assertEquals(1.0, registry.get("portolan.dns.forward.attempts").tag("outcome", "truncated").counter().count());
        Message udp = ask(s, "big.test.", Type.TXT, false); // dnsjava retries over TCP on TC, from the cache
        assertNotNull(udp.getSection(Section.ANSWER).get(0));
    }

    @Test
    void forward_noUpstreamAnswers_servfail() throws Exception {
        DnsServer s = server(Duration.ofMillis(100), new InetSocketAddress("127.0.0.1", Processes.freePort()),
                new InetSocketAddress("127.0.0.1", Processes.freePort()));
        long start = System.nanoTime();
        assertEquals(Rcode.SERVFAIL, ask(s, "example.com.", Type.A, false).getRcode());
        assertTrue((System.nanoTime() - start) / 1_000_000 < 1000);
    }
}
