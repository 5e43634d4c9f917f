package io.portolan.lb.nftables;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.lb.host.Exec;
import io.portolan.proto.testing.Snapshots;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Removed backends and conntrack, against the real kernel, {@code nft} and {@code conntrack} in a network namespace of
 * the test's own: the namespace's own processes reach VIPs through the plane's output chain. Backends: 10.77.0.1 (the
 * namespace's address on a veth, where servers listen) and 10.77.0.9 (on the veth's subnet, owned by no one: a dead
 * host, packets to it vanish).
 */
class NftConntrackTest {
    static final String NS = "ptl-nftct-" + ProcessHandle.current().pid();
    static final List<Process> processes = new ArrayList<>();
    static Path dir;

    @BeforeAll
    static void namespace() throws Exception {
        run("ip", "netns", "add", NS);
        run("ip", "-n", NS, "link", "set", "lo", "up");
        // a veth pair whose far end has no address: nothing answers ARP for 10.77.0.9 there
        run("ip", "-n", NS, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
        run("ip", "-n", NS, "addr", "add", "10.77.0.1/24", "dev", "v0");
        run("ip", "-n", NS, "link", "set", "v0", "up");
        run("ip", "-n", NS, "link", "set", "v1", "up");
        run("ip", "-n", NS, "route", "add", "10.96.0.0/24", "dev", "v0"); // the VIPs: out through v0, DNATed on the way
        dir = Files.createTempDirectory("nftct");
    }

    @AfterAll
    static void removeNamespace() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        run("ip", "netns", "del", NS);
    }

    static Exec.Result exec(String... argv) throws IOException {
        return Exec.inNetns(NS).run(List.of(argv), null, Duration.ofSeconds(30));
    }

    static String run(String... argv) throws IOException {
        return Exec.local().check(List.of(argv), null, Duration.ofSeconds(30)).out();
    }

    /** {@code conntrack -L} lines in the namespace matching the filter ({@code -p tcp --reply-src ...}). */
    static List<String> conntrack(String... filter) throws IOException {
        List<String> argv = new ArrayList<>(List.of("conntrack", "-L"));
        argv.addAll(List.of(filter));
        Exec.Result r = exec(argv.toArray(new String[0]));
        assertEquals(0, r.code(), r.toString());
        return r.out().lines().filter(l -> !l.isBlank()).toList();
    }

    static Process spawn(String... argv) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", NS));
        cmd.addAll(List.of(argv));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        processes.add(p);
        return p;
    }

    /** {@code curl http://URL} from source port {@code port}, 1 s to connect: the body, or null if it failed. */
    static String curlFrom(int port, String url) throws IOException {
        Exec.Result r = exec("curl", "-sS", "--local-port", Integer.toString(port), "--connect-timeout", "1", "--max-time", "3", url);
        return r.code() == 0 ? r.out().strip() : null;
    }

    static void await(String what, long ms, java.util.function.BooleanSupplier ok) throws InterruptedException {
        long end = System.nanoTime() + ms * 1_000_000;
        while (!ok.getAsBoolean()) {
            assertTrue(System.nanoTime() < end, what);
            Thread.sleep(50);
        }
    }

    static boolean listening(String address, int port) {
        try {
            return exec("python3", "-c", "import socket; socket.create_connection(('" + address + "', " + port + "), 1).close()").code() == 0;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void removedBackend_itsStaleFlowsAreForgotten_establishedConnectionsStay() throws Exception {
        Files.writeString(dir.resolve("index.html"), "live\n");
        spawn("timeout", "60", "python3", "-m", "http.server", "8080", "--bind", "10.77.0.1", "--directory", dir.toString());
        // an echo server that holds its connections (for a connection established before its backend is removed)
        spawn("timeout", "60", "python3", "-c", String.join("\n",
                "import socket, threading",
                "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('10.77.0.1', 9000)); s.listen(8)",
                "def echo(c):",
                "    while True:",
                "        b = c.recv(100)",
                "        if not b: return",
                "        c.sendall(b)",
                "while True:",
                "    c, _ = s.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()"));
        await("servers listening", 20_000, () -> listening("10.77.0.1", 8080) && listening("10.77.0.1", 9000));

        NftConfig c = NftConfig.parse(Map.of("nft-table", "ptlct", "nft-masquerade", "none"));
        Snapshots b = Snapshots.builder()
                .vip("web", "10.96.0.1", "http:80/tcp").instance("web", "dead", "10.77.0.9", "http:8080/tcp")
                .vip("dns", "10.96.0.2", "dns:53/udp").instance("dns", "dead", "10.77.0.9", "dns:5353/udp")
                .vip("db", "10.96.0.3", "db:90/tcp").instance("db", "old", "10.77.0.1", "db:9000/tcp");
        try (NftablesDataPlane p = new NftablesDataPlane(c, Exec.inNetns(NS), new SimpleMeterRegistry())) {
            p.sync(b.build(1), true);

            // a connection that never got an answer (the backend's host is gone): conntrack keeps it in SYN_SENT, 120 s
            assertEquals(null, curlFrom(40001, "http://10.96.0.1/"));
            List<String> stale = conntrack("-p", "tcp", "--reply-src", "10.77.0.9", "--reply-port-src", "8080");
            assertEquals(1, stale.size(), stale.toString());
            assertTrue(stale.get(0).contains("SYN_SENT") && stale.get(0).contains("sport=40001"), stale.toString());
            // a UDP flow to it, DNATed by the plane's own table
            Exec.Result udp = exec("python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                    + " s.bind(('10.77.0.1', 40002)); s.sendto(b'x', ('10.96.0.2', 53))");
            assertEquals(0, udp.code(), udp.toString());
            List<String> flow = conntrack("-p", "udp", "--reply-src", "10.77.0.9", "--reply-port-src", "5353");
            assertEquals(1, flow.size(), flow.toString());
            assertTrue(flow.get(0).contains("dst=10.96.0.2") && flow.get(0).contains("dport=53"), "a flow to the VIP, DNATed: " + flow);
            // a connection established to db's instance, used before and after that instance is removed
            Process held = spawn("timeout", "30", "python3", "-u", "-c", String.join("\n",
                    "import socket, os, time",
                    "c = socket.create_connection(('10.96.0.3', 90), 2); c.sendall(b'one'); print(c.recv(100).decode(), flush=True)",
                    "t = time.time()",
                    "while not os.path.exists('" + dir.resolve("go") + "') and time.time() - t < 25: time.sleep(0.05)",
                    "c.sendall(b'two'); print(c.recv(100).decode(), flush=True)"));
            BufferedReader heldOut = new BufferedReader(new InputStreamReader(held.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("one", heldOut.readLine());
            assertEquals(1, conntrack("-p", "tcp", "--state", "ESTABLISHED", "--orig-dst", "10.96.0.3", "--reply-src", "10.77.0.1", "--reply-port-src", "9000").size());

            // the dead backends are replaced, db's instance moves to another port
            b.remove("web", "dead").instance("web", "live", "10.77.0.1", "http:8080/tcp");
            b.remove("dns", "dead").instance("dns", "live", "10.77.0.1", "dns:5353/udp");
            b.remove("db", "old").instance("db", "new", "10.77.0.1", "db:9001/tcp");
            p.sync(b.build(2), false);
            assertTrue(p.conntrack().awaitIdle(Duration.ofSeconds(30)));

            assertEquals(List.of(), conntrack("-p", "tcp", "--reply-src", "10.77.0.9", "--reply-port-src", "8080"),
                    "the SYN_SENT entry of the removed backend is gone");
            assertEquals(List.of(), conntrack("-p", "udp", "--reply-src", "10.77.0.9", "--reply-port-src", "5353"),
                    "the UDP flow of the removed backend is gone");
            assertEquals(1, conntrack("-p", "tcp", "--state", "ESTABLISHED", "--orig-dst", "10.96.0.3", "--reply-src", "10.77.0.1", "--reply-port-src", "9000").size(),
                    "an established connection to a removed backend is left to drain");
            Files.writeString(dir.resolve("go"), "");
            assertEquals("two", heldOut.readLine(), "the established connection still carries data");
            // the same source port again: a new connection, scheduled to the backend that is there now
            // (with the SYN_SENT entry left, this SYN would have matched it and gone to 10.77.0.9)
            assertEquals("live", curlFrom(40001, "http://10.96.0.1/"));
        } finally {
            NftablesDataPlane.cleanup(c, Exec.inNetns(NS));
        }
    }

    @Test
    void staleFlows_removed_namesEachFrontendAndBackendThatWent() {
        NftConfig c = NftConfig.parse(Map.of("nft-table", "ptlct"));
        Snapshots b = Snapshots.builder()
                .vip("web", "10.96.0.1", "http:80/tcp", "dns:53/udp").published("8080:80/tcp")
                .instance("web", "a", "10.1.0.1", "http:8000/tcp", "dns:5353/udp")
                .instance("web", "b", "10.1.0.2", "http:8000/tcp", "dns:5353/udp")
                .vip("api", "10.96.0.2", "https:443/tcp").scheduler("sh")
                .instance("api", "x", "10.1.0.5", "https:8443/tcp")
                .instance("api", "y", "10.1.0.6", "https:8443/tcp");
        Ruleset before = NftRender.render(b.build(1), c);
        b.remove("web", "b").remove("api", "y");
        Ruleset after = NftRender.render(b.build(2), c);
        Set<String> got = new java.util.TreeSet<>();
        StaleFlows.removed(before, after, null, Set.of()).forEach(f -> got.add(f.toString()));
        assertEquals(Set.of("tcp 10.96.0.1:80 -> 10.1.0.2:8000", "udp 10.96.0.1:53 -> 10.1.0.2:5353", "tcp *:8080 -> 10.1.0.2:80",
                "tcp 10.96.0.2:443 -> 10.1.0.6:8443"), got);
        assertEquals(Set.of(), StaleFlows.removed(before, after, List.of("other"), Set.of()), "only the services named");
        assertEquals(1, StaleFlows.removed(before, after, List.of("api"), Set.of()).size());
        assertEquals(Set.of(), StaleFlows.removed(before, after, null, Set.of("web", "api")), "refused services keep their rules");
        assertEquals(Set.of(), StaleFlows.removed(null, after, null, Set.of()), "the first sync has nothing to compare");
        assertEquals(List.of("conntrack", "-D", "-p", "tcp", "--state", "SYN_SENT", "--orig-dst", "10.96.0.1", "--orig-port-dst", "80",
                        "--reply-src", "10.1.0.2", "--reply-port-src", "8000"),
                ConntrackCleaner.argv(new StaleFlows.Flow(io.portolan.proto.Protocol.TCP, StaleFlows.ipv4("10.96.0.1"), 80,
                        StaleFlows.ipv4("10.1.0.2"), 8000)));
        assertEquals(List.of("conntrack", "-D", "-p", "udp", "--orig-port-dst", "53", "--reply-src", "10.1.0.2", "--reply-port-src", "5353"),
                ConntrackCleaner.argv(new StaleFlows.Flow(io.portolan.proto.Protocol.UDP, null, 53, StaleFlows.ipv4("10.1.0.2"), 5353)));
        assertEquals(null, StaleFlows.ipv4("10.1.0.256"));
        assertEquals(null, StaleFlows.ipv4("example.org"));
    }
}
