package io.portolan.lb.nftables;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.lb.host.Exec;
import io.portolan.proto.testing.Snapshots;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * UDP through the plane's own table, against the real kernel: a client namespace, a node namespace where the plane
 * runs (it routes between the others, {@code ip_forward=1}) and two backend namespaces, each with a UDP and TCP echo
 * server on port 5353 that names itself and the address it saw. A DNS-like service {@code 53/udp} and {@code 53/tcp} on
 * a VIP and published port {@code 5300/udp} on the node's address: every datagram reaches a backend and its answer
 * comes back from the address and port it was sent to; TCP on the same VIP port is not disturbed; a removed backend's
 * UDP flow is forgotten so the client's next datagram from the same port reaches the backend that is there now.
 */
class NftUdpTest {
    static final String ID = Long.toString(ProcessHandle.current().pid());
    static final String CLIENT = "ptl-udp-c-" + ID;
    static final String NODE = "ptl-udp-n-" + ID;
    static final String B1 = "ptl-udp-b1-" + ID;
    static final String B2 = "ptl-udp-b2-" + ID;
    static final String VIP = "10.96.5.53";
    static final String NODE_ADDRESS = "10.78.1.1";
    static final List<Process> processes = new ArrayList<>();
    static Path dir;

    @BeforeAll
    static void namespaces() throws Exception {
        for (String ns : List.of(CLIENT, NODE, B1, B2)) {
            run("ip", "netns", "add", ns);
            run("ip", "-n", ns, "link", "set", "lo", "up");
        }
        link(CLIENT, "c", 1);
        link(B1, "b1", 2);
        link(B2, "b2", 3);
        run("ip", "netns", "exec", NODE, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        run("ip", "-n", NODE, "route", "add", "10.96.5.0/24", "dev", "n-c"); // the node's own traffic to VIPs: DNATed in output
        dir = Files.createTempDirectory("nftudp");
        Files.writeString(dir.resolve("echo.py"), String.join("\n",
                "import socket, sys, threading",
                "name = sys.argv[1]",
                "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 5353))",
                "t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('0.0.0.0', 5353)); t.listen(16)",
                "def tcp():",
                "    while True:",
                "        c, a = t.accept()",
                "        c.sendall(('%s tcp %s %s' % (name, a[0], c.recv(100).decode())).encode()); c.close()",
                "threading.Thread(target=tcp, daemon=True).start()",
                "while True:",
                "    b, a = u.recvfrom(100)",
                "    u.sendto(('%s udp %s %s' % (name, a[0], b.decode())).encode(), a)",
                ""));
        // the client: COUNT datagrams to HOST:PORT, each from a new socket (or all from SPORT), one line per answer:
        // "FROM_ADDRESS:FROM_PORT ANSWER", or "timeout"
        Files.writeString(dir.resolve("client.py"), String.join("\n",
                "import socket, sys",
                "mode, host, port, count, sport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])",
                "for i in range(count):",
                "    if mode == 'tcp':",
                "        s = socket.create_connection((host, port), 2); s.sendall(b'q%d' % i)",
                "        print('%s:%d %s' % (host, port, s.recv(200).decode()), flush=True); s.close(); continue",
                "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)",
                "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
                "    if sport: s.bind(('0.0.0.0', sport))",
                "    s.sendto(b'q%d' % i, (host, port))",
                "    try:",
                "        b, a = s.recvfrom(200); print('%s:%d %s' % (a[0], a[1], b.decode()), flush=True)",
                "    except socket.timeout:",
                "        print('timeout', flush=True)",
                "    s.close()",
                ""));
        spawn(B1, "b1");
        spawn(B2, "b2");
        for (String backend : List.of("10.78.2.2", "10.78.3.2")) {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!ask(NODE, "udp", backend, 5353, 1, 0).get(0).contains(" udp ")) {
                assertTrue(System.nanoTime() < end, "echo server at " + backend + " answers");
            }
        }
    }

    /** A veth pair between the node and {@code ns}: node side {@code n-SUFFIX} 10.78.NET.1/24, far side 10.78.NET.2/24. */
    static void link(String ns, String suffix, int net) throws IOException {
        run("ip", "-n", NODE, "link", "add", "n-" + suffix, "type", "veth", "peer", "name", "e0", "netns", ns);
        run("ip", "-n", NODE, "addr", "add", "10.78." + net + ".1/24", "dev", "n-" + suffix);
        run("ip", "-n", NODE, "link", "set", "n-" + suffix, "up");
        run("ip", "-n", ns, "addr", "add", "10.78." + net + ".2/24", "dev", "e0");
        run("ip", "-n", ns, "link", "set", "e0", "up");
        run("ip", "-n", ns, "route", "add", "default", "via", "10.78." + net + ".1");
    }

    @AfterAll
    static void removeNamespaces() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        for (String ns : List.of(CLIENT, NODE, B1, B2)) {
            Exec.local().run(List.of("ip", "netns", "del", ns), null, Duration.ofSeconds(30));
        }
    }

    static String run(String... argv) throws IOException {
        return Exec.local().check(List.of(argv), null, Duration.ofSeconds(30)).out();
    }

    static void spawn(String ns, String name) throws IOException {
        processes.add(new ProcessBuilder("ip", "netns", "exec", ns, "timeout", "120", "python3", dir.resolve("echo.py").toString(), name)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
    }

    /** The answers to {@code count} requests from namespace {@code ns} (see client.py). */
    static List<String> ask(String ns, String mode, String host, int port, int count, int sport) throws IOException {
        Exec.Result r = Exec.inNetns(ns).run(List.of("python3", dir.resolve("client.py").toString(), mode, host, Integer.toString(port),
                Integer.toString(count), Integer.toString(sport)), null, Duration.ofSeconds(10L + 3L * count));
        assertEquals(0, r.code(), r.toString());
        List<String> lines = r.out().lines().toList();
        assertEquals(count, lines.size(), r.toString());
        return lines;
    }

    /** The backend names in {@code answers}, each checked to come from {@code from} and to echo its request. */
    static Set<String> backends(List<String> answers, String from, String mode) {
        Set<String> names = new TreeSet<>();
        for (int i = 0; i < answers.size(); i++) {
            String[] w = answers.get(i).split(" ");
            assertEquals(5, w.length, "an answer, not a timeout: " + answers);
            assertEquals(from, w[0], "the answer comes from where the request went: " + answers);
            assertEquals(mode, w[2], answers.toString());
            assertEquals("q" + i, w[4], answers.toString());
            names.add(w[1]);
        }
        return names;
    }

    @Test
    void udpService_throughVipAndPublishedPort_reachesItsBackends_likeTcp() throws Exception {
        NftConfig c = NftConfig.parse(Map.of("nft-table", "ptludp"));
        Snapshots b = Snapshots.builder()
                .vip("dns", VIP, "dns:53/udp", "dns-tcp:53/tcp").published("5300:5353/udp")
                .instance("dns", "b1", "10.78.2.2", "dns:5353/udp", "dns-tcp:5353/tcp")
                .instance("dns", "b2", "10.78.3.2", "dns:5353/udp", "dns-tcp:5353/tcp");
        try (NftablesDataPlane p = new NftablesDataPlane(c, Exec.inNetns(NODE), new SimpleMeterRegistry())) {
            p.sync(b.build(1), true);
            assertTrue(p.rejected().isEmpty(), p.rejected().toString());

            // the VIP, from the client: 20 datagrams, each a new flow, spread over both backends (random: each backend
            // is missed with probability 2^-20); the backends see the node's address (masquerade)
            List<String> viaVip = ask(CLIENT, "udp", VIP, 53, 20, 0);
            assertEquals(Set.of("b1", "b2"), backends(viaVip, VIP + ":53", "udp"), viaVip.toString());
            assertTrue(viaVip.stream().allMatch(a -> a.contains(" udp 10.78.2.1 ") || a.contains(" udp 10.78.3.1 ")), viaVip.toString());
            // the published port on the node's address
            List<String> viaPublished = ask(CLIENT, "udp", NODE_ADDRESS, 5300, 20, 0);
            assertEquals(Set.of("b1", "b2"), backends(viaPublished, NODE_ADDRESS + ":5300", "udp"), viaPublished.toString());
            // TCP on the same VIP port, and UDP from the node itself (output chain)
            assertEquals(Set.of("b1", "b2"), backends(ask(CLIENT, "tcp", VIP, 53, 20, 0), VIP + ":53", "tcp"));
            assertTrue(Set.of("b1", "b2").containsAll(backends(ask(NODE, "udp", VIP, 53, 4, 0), VIP + ":53", "udp")));
            String flows = Exec.inNetns(NODE).check(List.of("conntrack", "-L", "-p", "udp", "--orig-dst", VIP, "--orig-port-dst", "53"),
                    null, Duration.ofSeconds(30)).out();
            assertTrue(flows.lines().count() >= 20 && flows.lines().allMatch(l -> l.contains(" sport=5353 ")),
                    "UDP flows to the VIP, DNATed to the backends' port: " + flows);

            // a flow from one client port to b2 alone; b2 is then replaced by b1: the plane forgets b2's flow, so the next
            // datagram from the same port is a new flow, scheduled to b1 (left in conntrack it would still reach b2)
            b.remove("dns", "b1");
            p.sync(b.build(2), false);
            assertEquals(Set.of("b2"), backends(ask(CLIENT, "udp", VIP, 53, 1, 40053), VIP + ":53", "udp"));
            b.remove("dns", "b2").instance("dns", "b1", "10.78.2.2", "dns:5353/udp", "dns-tcp:5353/tcp");
            p.sync(b.build(3), false);
            assertTrue(p.conntrack().awaitIdle(Duration.ofSeconds(30)));
            assertEquals(Set.of("b1"), backends(ask(CLIENT, "udp", VIP, 53, 3, 40053), VIP + ":53", "udp"));
        } finally {
            NftablesDataPlane.cleanup(c, Exec.inNetns(NODE));
        }
    }
}
