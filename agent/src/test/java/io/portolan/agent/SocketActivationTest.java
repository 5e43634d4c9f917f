package io.portolan.agent;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Cli;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The DNS sockets outlive the agent: a holder (src/test/resources/.../socket_holder.py, standing in
 * for systemd's portolan.socket with NonBlocking=yes and Restart=always) binds UDP and TCP on a
 * loopback address, runs the real agent through the launcher ({@code deploy/bin/portolan agent})
 * with them at fds 3 and 4 and LISTEN_FDS / LISTEN_PID set for it, and starts it again when it
 * dies. A client asks for a service every 20 ms while the agent is killed with SIGKILL once: with
 * the held sockets no query fails (they wait in the socket while the agent restarts); without them
 * (the agent binds for itself, as before) some do. LISTEN_PID of another process is ignored, and
 * {@code register -- COMMAND} keeps the variables from its child.
 */
class SocketActivationTest {
    static final Path LAUNCHER = Path.of("..", "deploy", "bin", "portolan").toAbsolutePath().normalize();
    static final String NAME = "web.portolan.internal.";
    static final int QUERIES = 500;
    static final long INTERVAL_MS = 20;
    static final int KILL_AT = 100;
    /** Per query; glibc's resolver waits 5 s per try. */
    static final long QUERY_TIMEOUT_MS = 5_000;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    final List<AutoCloseable> cleanup = new ArrayList<>();
    Path dir;

    @AfterEach
    void cleanUp() throws Exception {
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            try {
                cleanup.get(i).close();
            } catch (Exception e) {
                System.err.println("cleanup: " + e);
            }
        }
        if (dir != null) {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void killNine_withHeldSockets_noQueryFails() throws Exception {
        Outcome o = killNineUnderQueries("held");
        System.out.printf("socket activation, held sockets: %d of %d queries failed across kill -9; longest wait %d ms;"
                        + " agent back (first answer after the kill) in %d ms%n",
                o.loop.failed(), o.loop.sent, o.loop.maxWaitMs, o.loop.firstAnswerAfterKillMs());
        assertEquals(QUERIES, o.loop.sent);
        assertEquals(0, o.loop.failed(), "failed look-ups: " + o.loop.failures);
        // The queries sent while no agent ran waited in the socket for the restarted one.
        assertTrue(o.loop.maxWaitMs >= 300, "longest wait " + o.loop.maxWaitMs + " ms: the kill left no gap?");
        String log = Files.readString(dir.resolve("agent.log"));
        assertTrue(log.contains("socket activation: 2 inherited fd(s): 3 (dns-udp), 4 (dns-tcp)"), log);
        assertTrue(log.contains("DNS: serving inherited socket udp 127.0.0.1:" + o.dnsPort + " (fd 3)"), log);
        assertTrue(log.contains("DNS: serving inherited socket tcp 127.0.0.1:" + o.dnsPort + " (fd 4)"), log);
        // TCP through the held listener, to the restarted agent.
        assertEquals(o.vip, tcpQuery(o.dnsPort));
    }

    @Test
    void killNine_withoutListenFds_bindsAsBefore_queriesFail() throws Exception {
        Outcome o = killNineUnderQueries("none");
        System.out.printf("no socket activation (agent binds itself): %d of %d queries failed across kill -9 (%s);"
                        + " longest wait %d ms; agent back in %d ms%n",
                o.loop.failed(), o.loop.sent, o.loop.failureKinds(), o.loop.maxWaitMs, o.loop.firstAnswerAfterKillMs());
        assertEquals(QUERIES, o.loop.sent);
        assertTrue(o.loop.okBeforeKill >= KILL_AT - 5, "answered before the kill: " + o.loop.okBeforeKill);
        assertTrue(o.loop.failed() > 0, "without held sockets the restart must lose queries");
        String log = Files.readString(dir.resolve("agent.log"));
        assertFalse(log.contains("inherited"), log);
    }

    @Test
    void listenPidOfAnotherProcess_ignored_agentBindsItself() throws Exception {
        dir = Files.createTempDirectory("socket-activation");
        int dnsPort = freeUdpAndTcpPort();
        int adminPort = freeUdpAndTcpPort();
        // The holder's sockets are on the listen address and LISTEN_PID names the holder: the agent must
        // not take them, so its own bind finds the address in use (taking them would have served it).
        Holder h = holder("wrong-pid", dnsPort, adminPort, 0);
        long pid = h.awaitStarted();
        int code = h.awaitExited(pid, 60_000);
        assertEquals(1, code);
        String log = Files.readString(dir.resolve("agent.log"));
        assertTrue(log.contains("LISTEN_FDS=2 is for process " + h.process.pid() + ", not this one (" + pid + "): ignored"), log);
        assertTrue(log.contains("cannot listen on /127.0.0.1:" + dnsPort), log);
        assertFalse(log.contains("inherited socket"), log);
    }

    @Test
    void registerWrapper_childGetsNoListenVariables() throws Exception {
        dir = Files.createTempDirectory("socket-activation");
        Agent agent = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--state-dir", dir.resolve("state").toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--node", "wrapper-test"}));
        cleanup.add(agent);
        ProcessBuilder pb = Cli.builder("register", "--agent", "http://" + Agent.hostPort(agent.adminAddress()),
                "--service", "env", "--address", "10.0.0.9", "--port", "80", "--", "sh", "-c",
                // The shell's own fds, listed by a simple command (no pipeline: while the shell sets one up
                // it holds the pipe's fds itself, and a lister running then sees them).
                "env | grep -E '^(LISTEN_|PROBE)' | sort; echo FDS; ls /proc/$$/fd");
        pb.environment().putAll(Map.of("LISTEN_FDS", "2", "LISTEN_PID", "1", "LISTEN_FDNAMES", "a:b", "PROBE", "passed"));
        Process p = pb.redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("PROBE=passed"), "the child gets the wrapper's environment: " + out);
        assertFalse(out.contains("LISTEN_"), out);
        assertTrue(out.endsWith("FDS\n0\n1\n2\n"), "the child has fds 0-2 only: " + out);
    }

    // ---- the kill -9 scenario ----

    record Outcome(int dnsPort, String vip, Loop loop) {
    }

    Outcome killNineUnderQueries(String mode) throws Exception {
        dir = Files.createTempDirectory("socket-activation");
        int dnsPort = freeUdpAndTcpPort();
        int adminPort = freeUdpAndTcpPort();
        Holder h = holder(mode, dnsPort, adminPort, 3);
        long first = h.awaitStarted();
        String admin = "http://127.0.0.1:" + adminPort;
        awaitStatus(admin + "/readyz", 200, 60_000);
        String vip = register(admin);
        Loop loop = new Loop(dnsPort, vip);
        loop.run(() -> {
            assertTrue(ProcessHandle.of(first).map(ProcessHandle::destroyForcibly).orElse(false), "agent " + first + " to kill");
        });
        assertEquals(-9, h.awaitExited(first, 10_000), "the agent died of SIGKILL");
        long second = h.awaitStarted();
        assertNotEquals(first, second);
        return new Outcome(dnsPort, vip, loop);
    }

    /** QUERIES UDP queries, one every INTERVAL_MS from a fresh socket each, all in flight at once. */
    static final class Loop {
        final InetSocketAddress server;
        final String vip;
        int sent;
        int okBeforeKill;
        long maxWaitMs;
        long killedAtNanos;
        long firstAnswerAfterKillNanos;
        final Map<Integer, String> failures = new TreeMap<>();

        Loop(int port, String vip) {
            this.server = new InetSocketAddress("127.0.0.1", port);
            this.vip = vip;
        }

        record Pending(int id, long sentNanos, DatagramChannel channel) {
        }

        void run(Runnable kill) throws Exception {
            long t0 = System.nanoTime();
            long hardDeadline = t0 + TimeUnit.MILLISECONDS.toNanos(QUERIES * INTERVAL_MS + QUERY_TIMEOUT_MS + 5_000);
            List<Pending> pending = new ArrayList<>();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            try (Selector sel = Selector.open()) {
                while ((sent < QUERIES || !pending.isEmpty()) && System.nanoTime() < hardDeadline) {
                    long now = System.nanoTime();
                    long nextSend = t0 + TimeUnit.MILLISECONDS.toNanos(sent * INTERVAL_MS);
                    if (sent < QUERIES && now >= nextSend) {
                        if (sent == KILL_AT) {
                            kill.run();
                            killedAtNanos = System.nanoTime();
                        }
                        DatagramChannel ch = DatagramChannel.open();
                        ch.configureBlocking(false);
                        ch.connect(server); // connected: a closed port is reported (ICMP), not waited for
                        Pending q = new Pending(sent, System.nanoTime(), ch);
                        ch.register(sel, SelectionKey.OP_READ, q);
                        pending.add(q);
                        try {
                            ch.write(ByteBuffer.wrap(query(sent)));
                        } catch (IOException e) {
                            fail(q, pending, "send: " + e);
                        }
                        sent++;
                        continue;
                    }
                    long waitMs = sent < QUERIES ? Math.max(1, TimeUnit.NANOSECONDS.toMillis(nextSend - now)) : 10;
                    sel.select(Math.min(waitMs, 10));
                    for (Iterator<SelectionKey> it = sel.selectedKeys().iterator(); it.hasNext(); ) {
                        SelectionKey k = it.next();
                        it.remove();
                        Pending q = (Pending) k.attachment();
                        buf.clear();
                        try {
                            if (q.channel.read(buf) <= 0) {
                                continue;
                            }
                        } catch (IOException e) { // PortUnreachableException: nothing on the port
                            fail(q, pending, e.getClass().getSimpleName());
                            continue;
                        }
                        String problem = check(q.id, buf.flip());
                        if (problem != null) {
                            fail(q, pending, problem);
                            continue;
                        }
                        long answeredAt = System.nanoTime();
                        maxWaitMs = Math.max(maxWaitMs, TimeUnit.NANOSECONDS.toMillis(answeredAt - q.sentNanos));
                        if (q.id < KILL_AT) {
                            okBeforeKill++;
                        } else if (firstAnswerAfterKillNanos == 0 || answeredAt < firstAnswerAfterKillNanos) {
                            firstAnswerAfterKillNanos = answeredAt;
                        }
                        done(q, pending);
                    }
                    long expiry = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(QUERY_TIMEOUT_MS);
                    for (Pending q : List.copyOf(pending)) {
                        if (q.sentNanos < expiry) {
                            fail(q, pending, "timeout");
                        }
                    }
                }
                for (Pending q : List.copyOf(pending)) {
                    fail(q, pending, "unfinished");
                }
            }
        }

        byte[] query(int id) throws IOException {
            Message m = Message.newQuery(Record.newRecord(Name.fromString(NAME), Type.A, DClass.IN));
            m.getHeader().setID(id & 0xFFFF);
            return m.toWire();
        }

        String check(int id, ByteBuffer answer) {
            byte[] b = new byte[answer.remaining()];
            answer.get(b);
            try {
                Message m = new Message(b);
                if (m.getHeader().getID() != (id & 0xFFFF)) {
                    return "id " + m.getHeader().getID();
                }
                if (m.getRcode() != Rcode.NOERROR) {
                    return Rcode.string(m.getRcode());
                }
                List<Record> an = m.getSection(Section.ANSWER);
                if (an.isEmpty() || !an.get(0).rdataToString().equals(vip)) {
                    return "answer " + an;
                }
                return null;
            } catch (IOException e) {
                return "unparseable: " + e.getMessage();
            }
        }

        void fail(Pending q, List<Pending> pending, String why) {
            failures.put(q.id, why);
            done(q, pending);
        }

        static void done(Pending q, List<Pending> pending) {
            pending.remove(q);
            try {
                q.channel.close();
            } catch (IOException e) {
                // closing
            }
        }

        int failed() {
            return failures.size();
        }

        Map<String, Integer> failureKinds() {
            Map<String, Integer> kinds = new TreeMap<>();
            failures.values().forEach(v -> kinds.merge(v, 1, Integer::sum));
            return kinds;
        }

        long firstAnswerAfterKillMs() {
            return firstAnswerAfterKillNanos == 0 ? -1 : TimeUnit.NANOSECONDS.toMillis(firstAnswerAfterKillNanos - killedAtNanos);
        }
    }

    // ---- helpers ----

    /** The holder running the launcher's agent; stopped (SIGTERM, then SIGKILL) after the test. */
    Holder holder(String mode, int dnsPort, int adminPort, int restarts) throws IOException {
        assertTrue(Files.isExecutable(LAUNCHER), LAUNCHER.toString());
        Path script = Path.of(resource("socket_holder.py"));
        List<String> cmd = new ArrayList<>(List.of("python3", script.toString(), "--mode", mode, "--addr", "127.0.0.1",
                "--port", String.valueOf(dnsPort), "--log", dir.resolve("agent.log").toString(),
                "--restarts", String.valueOf(restarts), "--",
                LAUNCHER.toString(), "agent", "--state-dir", dir.resolve("state").toString(),
                "--admin-listen", "127.0.0.1:" + adminPort, "--dns-listen", "127.0.0.1:" + dnsPort,
                "--dns-upstream", "127.0.0.1:9", "--dataplane", "none", "--node", "socket-test"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(dir.resolve("holder.err").toFile());
        pb.environment().put("PORTOLAN_JAR", pathingJar().toString());
        Holder h = new Holder(pb.start());
        cleanup.add(h);
        return h;
    }

    static String resource(String name) {
        try {
            return Path.of(SocketActivationTest.class.getResource(name).toURI()).toString();
        } catch (Exception e) {
            throw new AssertionError("test resource " + name, e);
        }
    }

    /**
     * A jar of nothing but a manifest naming Main and this test's classpath, for the launcher's
     * {@code java -jar}: the agent the launcher runs is the code under test, not a stale build.
     */
    Path pathingJar() throws IOException {
        Path jar = dir.resolve("portolan-under-test.jar");
        if (Files.exists(jar)) {
            return jar;
        }
        StringBuilder cp = new StringBuilder();
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (!e.isEmpty()) {
                cp.append(Path.of(e).toAbsolutePath().toUri()).append(' ');
            }
        }
        Manifest mf = new Manifest();
        mf.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        mf.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "io.portolan.agent.Main");
        mf.getMainAttributes().put(Attributes.Name.CLASS_PATH, cp.toString().trim());
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out, mf)) {
            j.flush();
        }
        return jar;
    }

    /** The python holder: its 'started PID' / 'exited PID CODE' lines, read on a thread. */
    static final class Holder implements AutoCloseable {
        final Process process;
        final BlockingQueue<String> events = new LinkedBlockingQueue<>();

        Holder(Process process) {
            this.process = process;
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        events.add(line);
                    }
                } catch (IOException e) {
                    // holder gone
                }
            }, "holder-events");
            reader.setDaemon(true);
            reader.start();
        }

        String next(long timeoutMs) throws InterruptedException {
            String e = events.poll(timeoutMs, TimeUnit.MILLISECONDS);
            assertNotNull(e, "no event from the holder within " + timeoutMs + " ms (alive: " + process.isAlive() + ")");
            return e;
        }

        long awaitStarted() throws InterruptedException {
            String e = next(30_000);
            assertTrue(e.startsWith("started "), e);
            return Long.parseLong(e.substring("started ".length()).trim());
        }

        int awaitExited(long pid, long timeoutMs) throws InterruptedException {
            String e = next(timeoutMs);
            Matcher m = Pattern.compile("exited (\\d+) (-?\\d+)").matcher(e);
            assertTrue(m.matches(), e);
            assertEquals(pid, Long.parseLong(m.group(1)), e);
            return Integer.parseInt(m.group(2));
        }

        @Override
        public void close() throws InterruptedException {
            List<ProcessHandle> tree = new ArrayList<>(process.descendants().toList());
            process.destroy(); // SIGTERM: the holder passes it on and waits for the agent
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
            for (ProcessHandle p : tree) {
                p.destroyForcibly();
            }
        }
    }

    String register(String admin) throws Exception {
        String body = "{\"service\":\"web\",\"address\":\"10.0.0.5\",\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"tcp\"}],"
                + "\"ttl\":600,\"id\":\"web-1\"}";
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(admin + "/v1/instances"))
                .timeout(Duration.ofSeconds(10)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(201, r.statusCode(), r.body());
        Matcher m = Pattern.compile("\"vip\"\\s*:\\s*\"([0-9.]+)\"").matcher(r.body());
        assertTrue(m.find(), r.body());
        return m.group(1);
    }

    void awaitStatus(String url, int status, long timeoutMs) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        int last = -1;
        while (System.nanoTime() < deadline) {
            try {
                last = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode();
                if (last == status) {
                    return;
                }
            } catch (IOException e) {
                // not up yet
            }
            Thread.sleep(50);
        }
        throw new AssertionError(url + ": status " + last + ", not " + status + " within " + timeoutMs + " ms");
    }

    static String tcpQuery(int port) throws Exception {
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", port)) {
            s.setSoTimeout(5000);
            Message q = Message.newQuery(Record.newRecord(Name.fromString(NAME), Type.A, DClass.IN));
            byte[] wire = q.toWire();
            java.io.DataOutputStream out = new java.io.DataOutputStream(s.getOutputStream());
            out.writeShort(wire.length);
            out.write(wire);
            out.flush();
            java.io.DataInputStream in = new java.io.DataInputStream(s.getInputStream());
            byte[] r = new byte[in.readUnsignedShort()];
            in.readFully(r);
            return new Message(r).getSection(Section.ANSWER).get(0).rdataToString();
        }
    }

    /** A loopback port free for both UDP and TCP right now. */
    static int freeUdpAndTcpPort() throws IOException {
        for (int i = 0; i < 20; i++) {
            try (ServerSocket tcp = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
                try (DatagramSocket udp = new DatagramSocket(new InetSocketAddress("127.0.0.1", tcp.getLocalPort()))) {
                    return udp.getLocalPort();
                } catch (IOException taken) {
                    // UDP port in use: another
                }
            }
        }
        throw new IOException("no port free for UDP and TCP");
    }
}
