package io.portolan.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.portolan.dns.bench.BenchServer;
import io.portolan.dns.bench.Lookup;
import io.portolan.dns.testing.Processes;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The system resolver as containers use it: a network namespace whose /etc/resolv.conf (bind-mounted
 * by {@code ip netns exec} from /etc/netns/NS/resolv.conf) names the server on 127.0.0.1:53 inside
 * that namespace; {@code getent} and Java's {@code InetAddress} ask by short and full names.
 */
class NetnsClientTest {
    static final String NS = "ptdns" + ProcessHandle.current().pid();
    static final Path NS_ETC = Path.of("/etc/netns", NS);
    static Process server;

    @BeforeAll
    static void start() throws Exception {
        Processes.ok(10, "ip", "netns", "add", NS);
        Processes.ok(10, "ip", "-n", NS, "link", "set", "lo", "up");
        // a non-loopback address, as a container has: getaddrinfo's AI_ADDRCONFIG ignores loopback
        Processes.ok(10, "ip", "link", "add", "pdv" + ProcessHandle.current().pid(), "type", "veth", "peer", "name", "eth0",
                "netns", NS);
        Processes.ok(10, "ip", "-n", NS, "addr", "add", "10.250.0.2/24", "dev", "eth0");
        Processes.ok(10, "ip", "-n", NS, "link", "set", "eth0", "up");
        Files.createDirectories(NS_ETC);
        Files.writeString(NS_ETC.resolve("resolv.conf"),
                "nameserver 127.0.0.1\nsearch portolan.internal\noptions ndots:1 timeout:2 attempts:2\n");
        server = new ProcessBuilder("ip", "netns", "exec", NS, Processes.java(), "-Xmx128m", "-cp",
                System.getProperty("java.class.path"), BenchServer.class.getName(),
                "--listen", "127.0.0.1:53", "--services", "10", "--demo", "--udp-sockets", "1")
                .redirectErrorStream(true).start();
        BufferedReader r = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        StringBuilder seen = new StringBuilder();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String line;
        while ((line = r.readLine()) != null) {
            seen.append(line).append('\n');
            if (line.startsWith("READY ")) {
                break;
            }
            if (System.nanoTime() > deadline) {
                break;
            }
        }
        if (line == null || !line.startsWith("READY ")) {
            throw new AssertionError("server did not start in " + NS + ":\n" + seen);
        }
        Thread drain = new Thread(() -> {
            try {
                while (r.readLine() != null) {
                    // discard
                }
            } catch (IOException e) {
                // gone
            }
        });
        drain.setDaemon(true);
        drain.start();
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.getOutputStream().close();
            if (!server.waitFor(10, TimeUnit.SECONDS)) {
                server.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
        Processes.run(10, "ip", "netns", "del", NS);
        if (Files.exists(NS_ETC)) {
            try (Stream<Path> s = Files.walk(NS_ETC)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    static String inNs(String... argv) {
        String[] full = new String[argv.length + 4];
        full[0] = "ip";
        full[1] = "netns";
        full[2] = "exec";
        full[3] = NS;
        System.arraycopy(argv, 0, full, 4, argv.length);
        return Processes.ok(60, full);
    }

    @Test
    void getent_shortServiceName_vip() {
        String out = inNs("getent", "hosts", "web");
        assertTrue(out.startsWith("10.99.0.10 "), out);
    }

    @Test
    void getent_fullName_vip() {
        String out = inNs("getent", "hosts", "web.portolan.internal");
        assertTrue(out.startsWith("10.99.0.10 "), out);
    }

    @Test
    void getent_dnsrrService_everyInstance() {
        String out = inNs("getent", "ahostsv4", "db");
        Set<String> addrs = new HashSet<>();
        for (String l : out.split("\n")) {
            addrs.add(l.split("\\s+")[0]);
        }
        assertEquals(Set.of("10.0.1.1", "10.0.1.2", "10.0.1.3"), addrs, out);
    }

    @Test
    void getent_tasksName_instances() {
        String out = inNs("getent", "ahostsv4", "tasks.web");
        assertTrue(out.contains("10.0.0.1") && out.contains("10.0.0.2"), out);
    }

    @Test
    void getent_unknownName_notFound() {
        Processes.Result r = Processes.run(60, "ip", "netns", "exec", NS, "getent", "hosts", "nope.portolan.internal");
        assertEquals(2, r.exit(), r.out());
    }

    @Test
    void inetAddress_serviceNames_resolved() {
        String out = inNs(Processes.java(), "-Xmx64m", "-cp", System.getProperty("java.class.path"), Lookup.class.getName(),
                "web", "svc3.portolan.internal", "db");
        assertTrue(out.contains("web 10.99.0.10"), out);
        assertTrue(out.contains("svc3.portolan.internal " + BenchServer.address(3)), out);
        assertTrue(out.contains("db 10.0.1.1") && out.contains("db 10.0.1.2") && out.contains("db 10.0.1.3"), out);
    }

    @Test
    void dig_insideNamespace_port53() {
        String out = inNs("dig", "+short", "svc7.portolan.internal");
        assertEquals(BenchServer.address(7) + "\n", out);
    }
}
