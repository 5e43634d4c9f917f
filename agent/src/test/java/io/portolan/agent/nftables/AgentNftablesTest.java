package io.portolan.agent.nftables;

import io.portolan.agent.testing.Cli;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The real agent with {@code --dataplane nftables} in a "node" network namespace, a client namespace
 * and three backend namespaces (python3 HTTP and echo servers), all on 10.213.0.0/16, which exists
 * only inside these namespaces. VIPs come from 10.214.0.0/24 and are put on the node's lo.
 * Covers: the VIP from the client and from the node, distribution, an instance removed and added,
 * a published port on the node's address, a UDP service through its VIP and a published port, a long-lived connection through {@code kill -9} of the
 * agent and its restart (the table is adopted, not flushed), and {@code --cleanup}.
 */
class AgentNftablesTest {
    static final String ID = Long.toString(ProcessHandle.current().pid() % 100_000);
    static final String NODE = "ptl-node-" + ID;
    static final String CLIENT = "ptl-cli-" + ID;
    static final List<String> BACKENDS = List.of("ptl-b1-" + ID, "ptl-b2-" + ID, "ptl-b3-" + ID);
    static final String CLIENT_ADDR = "10.213.1.2";
    static final String NODE_ADDR = "10.213.1.1";
    static final int ADMIN_PORT = 18_477;
    static final String ADMIN = "http://127.0.0.1:" + ADMIN_PORT;

    static final String ECHO_SERVER = String.join("\n",
            "import socket, sys, threading",
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
            "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)",
            "def serve(c):",
            "    with c:",
            "        f = c.makefile('rwb', 0)",
            "        for line in f:",
            "            f.write(sys.argv[3].encode() + b' ' + line)",
            "while True:",
            "    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()");
    static final String ECHO_CLIENT = String.join("\n",
            "import socket, sys",
            "c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20); f = c.makefile('rwb', 0)",
            "while True:",
            "    line = sys.stdin.readline()",
            "    if not line: break",
            "    f.write(line.encode()); sys.stdout.write(f.readline().decode()); sys.stdout.flush()");

    /** A UDP echo server: answers each datagram with its name and the datagram. */
    static final String UDP_ECHO_SERVER = String.join("\n",
            "import socket, sys",
            "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((sys.argv[1], int(sys.argv[2])))",
            "while True:",
            "    b, a = u.recvfrom(100); u.sendto(sys.argv[3].encode() + b' ' + b, a)");
    /** COUNT datagrams to HOST:PORT, each from a new socket: one line per answer, "FROM_ADDRESS:FROM_PORT ANSWER" or "timeout". */
    static final String UDP_CLIENT = String.join("\n",
            "import socket, sys",
            "for i in range(int(sys.argv[3])):",
            "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(b'q%d' % i, (sys.argv[1], int(sys.argv[2])))",
            "    try:",
            "        b, a = s.recvfrom(100); print('%s:%d %s' % (a[0], a[1], b.decode()), flush=True)",
            "    except socket.timeout:",
            "        print('timeout', flush=True)",
            "    s.close()");

    static final List<Process> processes = new ArrayList<>();
    static Path dir;
    static Process agent;

    @BeforeAll
    static void topology() throws Exception {
        dir = Files.createTempDirectory("ptl-nft-e2e");
        for (String ns : all()) {
            sh("ip", "netns", "add", ns);
            sh("ip", "-n", ns, "link", "set", "lo", "up");
        }
        sh("ip", "netns", "exec", NODE, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        link(CLIENT, NODE_ADDR, CLIENT_ADDR, "c0");
        for (int i = 0; i < 3; i++) {
            String b = BACKENDS.get(i);
            link(b, "10.213.1" + (i + 1) + ".1", backend(i), "b" + i);
            Path www = Files.createDirectories(dir.resolve("www" + i));
            Files.writeString(www.resolve("index.html"), "b" + (i + 1));
            start(List.of("ip", "netns", "exec", b, "python3", "-m", "http.server", "8080", "--bind", backend(i),
                    "--directory", www.toString()), dir.resolve("http" + i + ".log"));
            start(List.of("ip", "netns", "exec", b, "python3", "-c", ECHO_SERVER, backend(i), "9000", "b" + (i + 1)),
                    dir.resolve("echo" + i + ".log"));
            start(List.of("ip", "netns", "exec", b, "python3", "-c", UDP_ECHO_SERVER, backend(i), "5353", "b" + (i + 1)),
                    dir.resolve("udp" + i + ".log"));
        }
    }

    static String backend(int i) {
        return "10.213.1" + (i + 1) + ".2";
    }

    static List<String> all() {
        List<String> l = new ArrayList<>(List.of(NODE, CLIENT));
        l.addAll(BACKENDS);
        return l;
    }

    /** A veth pair between the node and {@code ns}; {@code ns} routes everything through the node. */
    static void link(String ns, String nodeAddr, String nsAddr, String name) throws Exception {
        sh("ip", "-n", NODE, "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", ns);
        sh("ip", "-n", NODE, "addr", "add", nodeAddr + "/24", "dev", name);
        sh("ip", "-n", NODE, "link", "set", name, "up");
        sh("ip", "-n", ns, "addr", "add", nsAddr + "/24", "dev", "eth0");
        sh("ip", "-n", ns, "link", "set", "eth0", "up");
        sh("ip", "-n", ns, "route", "add", "default", "via", nodeAddr);
    }

    @AfterAll
    static void teardown() throws Exception {
        if (agent != null) {
            agent.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        for (Process p : processes) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        for (String ns : all()) {
            run(List.of("ip", "netns", "del", ns), 10);
        }
    }

    record Out(int code, String text) {
    }

    static Out run(List<String> argv, int timeoutSeconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", argv) + ": no exit in " + timeoutSeconds + " s");
        }
        return new Out(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    static String sh(String... argv) throws IOException, InterruptedException {
        Out o = run(List.of(argv), 30);
        assertEquals(0, o.code, String.join(" ", argv) + ": " + o.text);
        return o.text;
    }

    static Process start(List<String> argv, Path log) throws IOException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        processes.add(p);
        return p;
    }

    static Process startAgent(String logName) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", NODE));
        cmd.addAll(Cli.builder("agent", "--dataplane", "nftables", "--nft-min-sync-interval", "50ms", "--nft-vip-device", "lo",
                "--state-dir", dir.resolve("state").toString(), "--admin-listen", "127.0.0.1:" + ADMIN_PORT,
                "--vip-cidr", "10.214.0.0/24").command());
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(logName).toFile()).start();
    }

    /** curl inside {@code ns}; the body, or null when the request failed. */
    static String curl(String ns, String url) throws IOException, InterruptedException {
        Out o = run(List.of("ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "3", url), 10);
        return o.code == 0 ? o.text.trim() : null;
    }

    static String post(String json) throws IOException, InterruptedException {
        return sh("ip", "netns", "exec", NODE, "curl", "-sS", "--fail-with-body", "--max-time", "5", "-X", "POST",
                "-H", "Content-Type: application/json", "--data", json, ADMIN + "/v1/instances");
    }

    static void register(String service, int i, int port, String published) throws Exception {
        register(service, i, port, "tcp", published);
    }

    static void register(String service, int i, int port, String protocol, String published) throws Exception {
        post("{\"service\":\"" + service + "\",\"id\":\"" + service + (i + 1) + "\",\"address\":\"" + backend(i)
                + "\",\"ports\":[{\"name\":\"p\",\"port\":" + port + ",\"protocol\":\"" + protocol + "\"}],\"ttl\":3600"
                + (published == null ? "" : ",\"published\":[" + published + "]") + "}");
    }

    static String vip(String service) throws Exception {
        String snap = sh("ip", "netns", "exec", NODE, "curl", "-sS", "--max-time", "5", ADMIN + "/v1/snapshot");
        for (var s : new com.fasterxml.jackson.databind.ObjectMapper().readTree(snap).path("services")) {
            if (s.path("name").asText().equals(service) && s.has("vip")) {
                return s.path("vip").asText();
            }
        }
        fail("no VIP for " + service + " in " + snap);
        return null;
    }

    /** Polls until {@code url} from {@code ns} answers {@code want} (null: anything); bounded. */
    static String awaitAnswer(String ns, String url, String want, long timeoutMillis) throws Exception {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        String last = null;
        for (int i = 0; i < 1000 && System.nanoTime() < deadline; i++) {
            last = curl(ns, url);
            if (last != null && (want == null || want.equals(last))) {
                return last;
            }
            Thread.sleep(50);
        }
        fail(url + " from " + ns + ": wanted " + want + ", last answer " + last + "\n" + agentLog());
        return null;
    }

    static String agentLog() throws IOException {
        StringBuilder b = new StringBuilder();
        for (String f : List.of("agent1.log", "agent2.log")) {
            Path p = dir.resolve(f);
            if (Files.exists(p)) {
                String s = Files.readString(p);
                b.append("--- ").append(f).append('\n').append(s.length() > 4000 ? s.substring(s.length() - 4000) : s);
            }
        }
        return b.toString();
    }

    static Map<String, Integer> distribution(String ns, String url, int n) throws Exception {
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < n; i++) {
            String a = curl(ns, url);
            seen.merge(a == null ? "(failed)" : a, 1, Integer::sum);
        }
        return seen;
    }

    @Test
    void vipAndPublishedPort_throughNftables_survivesAgentKill() throws Exception {
        agent = startAgent("agent1.log");
        long t0 = System.nanoTime();
        for (int i = 0; i < 300 && run(List.of("ip", "netns", "exec", NODE, "curl", "-s", "--max-time", "1", ADMIN + "/healthz"), 5).code != 0; i++) {
            assertTrue(agent.isAlive(), agentLog());
            Thread.sleep(100);
        }
        for (int i = 0; i < 3; i++) {
            register("web", i, 8080, "{\"published\":30080,\"target\":8080,\"protocol\":\"tcp\"}");
            register("echo", i, 9000, null);
        }
        String web = vip("web");
        String echo = vip("echo");
        String url = "http://" + web + ":8080/";
        awaitAnswer(CLIENT, url, null, 10_000);
        System.out.printf("nftables e2e: agent up and VIP answering in %d ms%n", (System.nanoTime() - t0) / 1_000_000);

        // distribution over the three instances, from the client
        Map<String, Integer> d = distribution(CLIENT, url, 60);
        assertEquals(3, d.size(), d.toString());
        d.values().forEach(n -> assertTrue(n >= 6, "uneven: " + d));
        // from the node itself (output hook), and the published port on the node's address
        assertTrue(List.of("b1", "b2", "b3").contains(curl(NODE, url)));
        Map<String, Integer> pub = distribution(CLIENT, "http://" + NODE_ADDR + ":30080/", 30);
        assertEquals(3, pub.size(), "published port: " + pub);
        String nodeTable = sh("ip", "netns", "exec", NODE, "nft", "list", "table", "ip", "portolan");
        assertTrue(nodeTable.contains(web + " . tcp . 8080"), nodeTable);
        assertTrue(sh("ip", "-n", NODE, "-4", "addr", "show", "dev", "lo").contains(web + "/32"));

        // an instance removed, then added back
        sh("ip", "netns", "exec", NODE, "curl", "-sS", "--fail", "-X", "DELETE", ADMIN + "/v1/instances/web/web3");
        long deadline = System.nanoTime() + 10_000_000_000L;
        Map<String, Integer> after;
        do {
            after = distribution(CLIENT, url, 15);
        } while (after.containsKey("b3") && System.nanoTime() < deadline);
        assertFalse(after.containsKey("b3"), "removed instance still answers: " + after);
        assertEquals(2, distribution(CLIENT, url, 30).size());
        register("web", 2, 8080, "{\"published\":30080,\"target\":8080,\"protocol\":\"tcp\"}");
        awaitAnswer(CLIENT, url, "b3", 10_000);

        // a UDP service, through its VIP and a published port: every datagram answered, from where it was sent, by
        // each of the three instances (a given one is missed by 30 random picks with probability (2/3)^30)
        for (int i = 0; i < 3; i++) {
            register("dns", i, 5353, "udp", "{\"published\":30053,\"target\":5353,\"protocol\":\"udp\"}");
        }
        String dns = vip("dns");
        long udpDeadline = System.nanoTime() + 10_000_000_000L;
        while (udp(CLIENT, dns, 5353, 1).get(0).equals("timeout") && System.nanoTime() < udpDeadline) {
            Thread.sleep(50);
        }
        for (String[] to : List.of(new String[] {dns, "5353"}, new String[] {NODE_ADDR, "30053"})) {
            List<String> answers = udp(CLIENT, to[0], Integer.parseInt(to[1]), 30);
            java.util.Set<String> names = new java.util.TreeSet<>();
            for (int i = 0; i < answers.size(); i++) {
                String[] a = answers.get(i).split(" ");
                assertEquals(3, a.length, "UDP to " + to[0] + ":" + to[1] + ": " + answers + "\n" + agentLog());
                assertEquals(to[0] + ":" + to[1], a[0], answers.toString());
                assertEquals("q" + i, a[2], answers.toString());
                names.add(a[1]);
            }
            assertEquals(java.util.Set.of("b1", "b2", "b3"), names, "UDP to " + to[0] + ":" + to[1] + ": " + answers);
        }

        // a long-lived connection through the echo VIP survives kill -9 and the restart
        Process conn = start(List.of("ip", "netns", "exec", CLIENT, "python3", "-c", ECHO_CLIENT, echo, "9000"), dir.resolve("conn.log"));
        conn = replaceWithPipes(conn, echo);
        Writer w = new OutputStreamWriter(conn.getOutputStream(), StandardCharsets.UTF_8);
        BufferedReader r = new BufferedReader(new InputStreamReader(conn.getInputStream(), StandardCharsets.UTF_8));
        String first = exchange(w, r, "before");
        String instance = first.split(" ")[0];
        assertEquals(instance + " before", first);

        String tableBefore = elements();
        agent.destroyForcibly();
        assertTrue(agent.waitFor(10, TimeUnit.SECONDS));
        assertEquals(instance + " while-down", exchange(w, r, "while-down"));
        awaitAnswer(CLIENT, url, null, 5_000); // the kernel keeps serving without the agent

        agent = startAgent("agent2.log");
        for (int i = 0; i < 300 && run(List.of("ip", "netns", "exec", NODE, "curl", "-s", "--max-time", "1", ADMIN + "/healthz"), 5).code != 0; i++) {
            assertTrue(agent.isAlive(), agentLog());
            Thread.sleep(100);
        }
        // wait for the restarted agent's first (full) sync, then check nothing was rewritten
        deadline = System.nanoTime() + 20_000_000_000L;
        while (!Files.readString(dir.resolve("agent2.log")).contains("synced (full") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertTrue(Files.readString(dir.resolve("agent2.log")).contains("synced (full"), agentLog());
        assertEquals(tableBefore, elements(), "the restarted agent adopted the table without changing it");
        assertFalse(Files.readString(dir.resolve("agent2.log")).contains("replacing table"), "adopted, not replaced: " + agentLog());
        assertEquals(instance + " after-restart", exchange(w, r, "after-restart"));
        assertEquals(3, distribution(CLIENT, url, 30).size());
        conn.getOutputStream().close();
        conn.waitFor(5, TimeUnit.SECONDS);

        // --cleanup (with the agent stopped) removes the table and the VIPs it added, nothing else
        agent.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", NODE));
        // no --nft-* flag needed: the VIPs are found by their label (and Agent.cleanup hands every kernel flag to
        // both planes, so an --nft-* flag here would be refused by the IPVS plane's cleanup)
        cmd.addAll(Cli.builder("agent", "--cleanup", "--dataplane", "nftables", "--state-dir", dir.resolve("state").toString()).command());
        Out c = run(cmd, 60);
        assertEquals(0, c.code, c.text);
        assertFalse(sh("ip", "netns", "exec", NODE, "nft", "list", "tables").contains("portolan"));
        String lo = sh("ip", "-n", NODE, "-4", "addr", "show", "dev", "lo");
        assertFalse(lo.contains("10.214."), lo);
        assertTrue(lo.contains("127.0.0.1/8"), lo);
        assertTrue(sh("ip", "-n", NODE, "-4", "addr", "show").contains(NODE_ADDR + "/24"));
    }

    /** The answers to {@code count} datagrams sent from {@code ns}, each from a new socket. */
    static List<String> udp(String ns, String host, int port, int count) throws Exception {
        Out o = run(List.of("ip", "netns", "exec", ns, "python3", "-c", UDP_CLIENT, host, Integer.toString(port), Integer.toString(count)),
                10 + 3 * count);
        assertEquals(0, o.code, o.text);
        List<String> lines = o.text.lines().toList();
        assertEquals(count, lines.size(), o.text);
        return lines;
    }

    private static Process replaceWithPipes(Process started, String echo) throws IOException {
        // start() redirects to a log; the connection needs pipes: stop that one and start a piped one
        started.destroyForcibly();
        processes.remove(started);
        Process p = new ProcessBuilder("ip", "netns", "exec", CLIENT, "python3", "-c", ECHO_CLIENT, echo, "9000")
                .redirectError(dir.resolve("conn.err").toFile()).start();
        processes.add(p);
        return p;
    }

    private static String exchange(Writer w, BufferedReader r, String line) throws Exception {
        w.write(line + "\n");
        w.flush();
        java.util.concurrent.CompletableFuture<String> f = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return r.readLine();
            } catch (IOException e) {
                return "(" + e + ")";
            }
        });
        return f.get(20, TimeUnit.SECONDS);
    }

    private static String elements() throws Exception {
        StringBuilder b = new StringBuilder();
        for (String map : List.of("vips", "published", "backends", "published_backends")) {
            b.append(sh("ip", "netns", "exec", NODE, "nft", "list", "map", "ip", "portolan", map));
        }
        return b.toString();
    }
}
