package io.portolan.agent.client;

import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.client.Portolan;
import io.portolan.proto.Instance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.SimpleResolver;
import org.xbill.DNS.Type;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The Java client as an application uses it: {@link ClientApp} runs in a JVM of its own whose
 * classpath is the client jar alone (the JDK's source launcher), against a real agent started here
 * with its DNS on 127.0.0.171 and the userspace data plane on VIPs from 127.79.0.0/24 (local on lo).
 * The plane tries no other instance when a connect fails ({@code --lb-connect-retries 0}), so a
 * request sent to a stopped instance fails instead of being saved by a retry. Applications listen on
 * 127.0.0.161-164; the load goes through the VIP, a new connection per request, each with timeouts.
 */
class ClientAppTest {
    static final String DNS_ADDRESS = "127.0.0.171";
    static final String ZONE = ".portolan.internal.";
    static Path tmp;
    static Path clientJar;
    static Path appSource;
    static Agent agent;
    static int dnsPort;

    final List<App> apps = new ArrayList<>();

    @BeforeAll
    static void up() throws Exception {
        tmp = Files.createTempDirectory("client-app"); // removed by down(), which JUnit runs even when this fails
        clientJar = clientJar();
        appSource = Path.of(System.getProperty("basedir", System.getProperty("user.dir")),
                "src/test/java/io/portolan/agent/client/ClientApp.java");
        assertTrue(Files.isRegularFile(appSource), appSource + " (run from the agent module)");
        dnsPort = freeUdpAndTcpPort(DNS_ADDRESS);
        agent = Agent.start(AgentConfig.parse(new String[] {"--state-dir", tmp.resolve("state").toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", DNS_ADDRESS + ":" + dnsPort, "--node", "client-test",
                "--vip-cidr", "127.79.0.0/24", "--dataplane", "userspace", "--lb-connect-retries", "0"}));
        Await.until("agent ready", 15_000, agent::ready);
    }

    @AfterAll
    static void down() throws IOException {
        try {
            if (agent != null) {
                agent.close();
            }
        } finally {
            deleteTree(tmp);
        }
    }

    @AfterEach
    void stopApps() {
        apps.forEach(App::kill);
    }

    // ---- the tests ------------------------------------------------------------------------------

    @Test
    void app_onTheClientJarAlone_appearsInDns_andLeavesItOnSigterm() throws Exception {
        int port = freePort("127.0.0.161");
        App app = start("shop", "shop-1", "127.0.0.161", port, 10, 500, "hook");
        String vip = app.registeredVip();
        assertEquals("classpath " + clientJar, app.await("classpath ").text(), "the client jar alone");

        assertEquals(vip, agent.publisher().current().service("shop").orElseThrow().vip().getHostAddress());
        Await.until("shop's VIP in DNS", 5_000, () -> answers("shop" + ZONE, Type.A).equals(List.of(vip)));
        assertEquals(List.of("127.0.0.161"), answers("tasks.shop" + ZONE, Type.A));
        assertEquals(List.of("0 0 " + port + " shop" + ZONE), answers("_http._tcp.shop" + ZONE, Type.SRV));
        assertEquals("shop-1", get(vip, port), "served through the VIP");

        app.sigterm();
        assertTrue(app.process.waitFor(30, TimeUnit.SECONDS), "the app stops on SIGTERM");
        assertEquals(143, app.process.exitValue(), app.stderr());
        // Deregistered by the hook before the JVM ended, not left to its 10 s TTL.
        Await.until("shop-1 gone from DNS", 1_000, () -> answers("tasks.shop" + ZONE, Type.A).isEmpty());
        assertTrue(instance("shop", "shop-1") == null);
    }

    @Test
    void sigtermUnderLoad_deregistersDrainsThenStops_zeroFailedRequests() throws Exception {
        int port = freePort("127.0.0.162", "127.0.0.163");
        App a = start("cart", "cart-a", "127.0.0.162", port, 10, 2_000, "hook");
        App b = start("cart", "cart-b", "127.0.0.163", port, 10, 2_000, "hook");
        String vip = a.registeredVip();
        assertEquals(vip, b.registeredVip());
        awaitBothServing("cart", vip, port, "cart-a", "cart-b");

        AtomicLong goneAt = watchUntilGone("cart", "cart-a", 40_000);
        Load load = Load.start(vip, port, 50, 500);
        List<Outcome> out;
        long sigterm;
        try {
            Thread.sleep(3_000);
            sigterm = System.nanoTime();
            a.sigterm(); // while 50 requests a second go through the VIP
            out = load.await();
        } finally {
            load.stop();
        }
        assertTrue(a.process.waitFor(30, TimeUnit.SECONDS), "cart-a stops on SIGTERM");
        assertEquals(143, a.process.exitValue(), a.stderr());

        List<Outcome> failed = out.stream().filter(o -> o.error() != null).toList();
        assertEquals(List.of(), failed.subList(0, Math.min(10, failed.size())), failed.size() + " of " + out.size() + " requests failed");
        assertEquals(500, out.size());
        long stopping = a.await("stopping server").nanos();
        long stopped = a.await("server stopped").nanos();
        assertTrue(out.stream().filter(o -> o.sent() < sigterm && o.answer().equals("cart-a")).count() > 20, "cart-a served before SIGTERM");
        assertTrue(out.stream().filter(o -> o.sent() > stopped).count() > 100, "the load went on after cart-a stopped");
        assertTrue(out.stream().filter(o -> o.sent() > stopped).allMatch(o -> o.answer().equals("cart-b")), "then cart-b answered all");
        // The order: out of the registry first, the server stopped a drain (2 s) later.
        long gone = goneAt.get();
        assertTrue(gone > sigterm, "cart-a left the registry after SIGTERM");
        long drained = TimeUnit.NANOSECONDS.toMillis(stopping - gone);
        System.out.printf("SIGTERM under load: %d requests, %d failed; cart-a left the registry %d ms after SIGTERM, its server began"
                        + " to stop %d ms after that and had stopped %d ms later%n", out.size(), failed.size(),
                TimeUnit.NANOSECONDS.toMillis(gone - sigterm), drained, TimeUnit.NANOSECONDS.toMillis(stopped - stopping));
        assertTrue(drained >= 1_700, "the server began to stop " + drained + " ms after cart-a left the registry (drain 2 s)");
    }

    /**
     * The control: the same load and SIGTERM against an application that stops its server in a
     * shutdown hook of its own and never deregisters. Requests fail, so the test above could.
     */
    @Test
    void control_serverStoppedByItsOwnHook_stillRegistered_requestsFail() throws Exception {
        int port = freePort("127.0.0.162", "127.0.0.163");
        App a = start("till", "till-a", "127.0.0.162", port, 10, 2_000, "nohook");
        App b = start("till", "till-b", "127.0.0.163", port, 10, 2_000, "hook");
        String vip = a.registeredVip();
        b.registeredVip();
        awaitBothServing("till", vip, port, "till-a", "till-b");

        Load load = Load.start(vip, port, 50, 250);
        List<Outcome> out;
        long sigterm;
        try {
            Thread.sleep(2_000);
            sigterm = System.nanoTime();
            a.sigterm();
            out = load.await();
        } finally {
            load.stop();
        }
        assertTrue(a.process.waitFor(30, TimeUnit.SECONDS));
        long failed = out.stream().filter(o -> o.error() != null).count();
        System.out.printf("control: %d of %d requests failed; first: %s%n", failed, out.size(),
                out.stream().filter(o -> o.error() != null).findFirst().map(Outcome::error).orElse("-"));
        assertTrue(failed > 0, "without the client's order some requests fail (" + failed + " of " + out.size() + ")");
        // A request in flight at SIGTERM may fail with it: "after" is when it ended, not when it was sent.
        assertTrue(out.stream().filter(o -> o.error() != null).allMatch(o -> o.ended() > sigterm), "only after SIGTERM");
        assertTrue(instance("till", "till-a") != null, "still registered: it never deregistered (it expires with its TTL)");
    }

    @Test
    void kill9_instanceExpiresWithinItsTtl() throws Exception {
        int port = freePort("127.0.0.164");
        App app = start("kv", "kv-1", "127.0.0.164", port, 3, 2_000, "hook"); // TTL 3 s: heartbeats every second
        app.registeredVip();
        Await.until("kv-1 in DNS", 5_000, () -> answers("tasks.kv" + ZONE, Type.A).equals(List.of("127.0.0.164")));
        Thread.sleep(2_500); // the lease now held by heartbeats

        long killed = System.nanoTime();
        app.process.toHandle().destroyForcibly(); // SIGKILL: no hook runs
        assertTrue(app.process.waitFor(10, TimeUnit.SECONDS));
        long goneFromRegistry = -1;
        long goneFromDns = -1;
        for (int i = 0; i < 500 && goneFromDns < 0; i++) { // at most ~10 s
            long now = System.nanoTime();
            if (goneFromRegistry < 0 && instance("kv", "kv-1") == null) {
                goneFromRegistry = now;
            }
            if (answers("tasks.kv" + ZONE, Type.A).isEmpty()) {
                goneFromDns = now;
            }
            Thread.sleep(20);
        }
        assertTrue(goneFromDns > 0, "kv-1 still in DNS 10 s after kill -9");
        // DNS may empty in the same poll that still saw kv-1 in the snapshot before it: then it left in between.
        for (int i = 0; i < 100 && goneFromRegistry < 0; i++) {
            if (instance("kv", "kv-1") == null) {
                goneFromRegistry = Math.min(System.nanoTime(), goneFromDns);
            } else {
                Thread.sleep(20);
            }
        }
        assertTrue(goneFromRegistry > 0, "kv-1 still in the snapshot 2 s after it left DNS");
        long registryMs = TimeUnit.NANOSECONDS.toMillis(goneFromRegistry - killed);
        long dnsMs = TimeUnit.NANOSECONDS.toMillis(goneFromDns - killed);
        System.out.printf("kill -9: kv-1 left the registry %d ms and DNS %d ms after the kill (TTL 3 s)%n", registryMs, dnsMs);
        // The last heartbeat renewed the lease at most a second before the kill: it runs out 2-3 s after.
        assertTrue(registryMs >= 1_000, "kv-1 left after " + registryMs + " ms: by its lease, not by a deregistration");
        // TTL 3 s, plus the store's 250 ms expiry tick and the snapshot's way to DNS.
        assertTrue(dnsMs <= 4_000, "kv-1 left DNS " + dnsMs + " ms after kill -9 (TTL 3 s)");
    }

    // ---- the application ---------------------------------------------------------------------

    record Line(String text, long nanos) {
    }

    /** {@link ClientApp} in a JVM of its own: stdout read line by line with arrival times, stderr to a file. */
    final class App {
        final Process process;
        final Path stderr;
        final List<Line> lines = new CopyOnWriteArrayList<>();

        App(String... args) throws IOException {
            stderr = tmp.resolve("app-" + args[1] + "-" + System.nanoTime() + ".log");
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-cp", clientJar.toString(), appSource.toString()));
            cmd.addAll(List.of(args));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(stderr.toFile());
            pb.environment().put(Portolan.AGENT_ENV, "http://127.0.0.1:" + agent.adminAddress().getPort());
            process = pb.start();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        lines.add(new Line(l, System.nanoTime()));
                    }
                } catch (IOException ended) {
                    // the process is gone
                }
            }, "app-stdout-" + args[1]);
            reader.setDaemon(true);
            reader.start();
        }

        Line await(String prefix) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60); // the source launcher compiles first
            while (System.nanoTime() < deadline) {
                for (Line l : lines) {
                    if (l.text().startsWith(prefix)) {
                        return l;
                    }
                }
                if (!process.isAlive() && lines.stream().noneMatch(l -> l.text().startsWith(prefix))) {
                    Thread.sleep(200); // the last lines may still be on their way
                    return lines.stream().filter(l -> l.text().startsWith(prefix)).findFirst()
                            .orElseThrow(() -> new AssertionError("the app exited (" + process.exitValue() + ") without '" + prefix
                                    + "'; stdout " + lines + "; stderr:\n" + stderr()));
                }
                Thread.sleep(20);
            }
            throw new AssertionError("no '" + prefix + "' from the app within 60 s; stdout " + lines + "; stderr:\n" + stderr());
        }

        /**
         * SIGTERM through the process handle: {@code Process.destroy()} would also close our end of
         * the app's stdout, and what its shutdown hook prints would be lost.
         */
        void sigterm() {
            assertTrue(process.toHandle().destroy(), "SIGTERM sent");
        }

        String registeredVip() throws InterruptedException {
            String[] words = await("registered ").text().split(" ");
            return words[3];
        }

        String stderr() {
            try {
                String s = Files.readString(stderr, StandardCharsets.UTF_8);
                return s.length() > 4_000 ? s.substring(s.length() - 4_000) : s;
            } catch (IOException e) {
                return "(no stderr: " + e + ")";
            }
        }

        void kill() {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    App start(String service, String id, String address, int port, int ttlSeconds, long drainMillis, String mode) throws IOException {
        App app = new App(service, id, address, Integer.toString(port), Integer.toString(ttlSeconds), Long.toString(drainMillis), mode);
        apps.add(app);
        return app;
    }

    static Instance instance(String service, String id) {
        return agent.publisher().current().instances(service).stream().filter(i -> i.id().equals(id)).findFirst().orElse(null);
    }

    /** Polls the snapshot every 5 ms from a daemon thread; the time (nanoTime) the instance left it, 0 until then. */
    static AtomicLong watchUntilGone(String service, String id, long timeoutMillis) {
        AtomicLong gone = new AtomicLong();
        Thread t = new Thread(() -> {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
            while (System.nanoTime() < deadline) {
                if (instance(service, id) == null) {
                    gone.set(System.nanoTime());
                    return;
                }
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "watch-" + id);
        t.setDaemon(true);
        t.start();
        return gone;
    }

    /** Until the VIP has answered with both instances (each request on a new connection). */
    static void awaitBothServing(String service, String vip, int port, String first, String second) throws InterruptedException {
        Await.until(first + " and " + second + " in the snapshot", 10_000,
                () -> instance(service, first) != null && instance(service, second) != null);
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 100 && !(seen.contains(first) && seen.contains(second)); i++) {
            try {
                seen.add(get(vip, port));
            } catch (IOException notYet) {
                seen.add(notYet.toString());
                Thread.sleep(50);
            }
        }
        assertTrue(seen.contains(first) && seen.contains(second), "the VIP answered " + seen);
    }

    // ---- the load -------------------------------------------------------------------------------

    /** One request: when it was sent, what answered, or why it failed. */
    /** A request: when it was sent and when it ended (System.nanoTime), and its answer or its error. */
    record Outcome(long sent, long ended, String answer, String error) {
    }

    /** {@code count} requests at {@code perSecond}, each on a new connection with a 2 s connect and 3 s read timeout. */
    static final class Load {
        final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor();
        final ExecutorService workers = Executors.newFixedThreadPool(32);
        final List<Outcome> outcomes = new CopyOnWriteArrayList<>();
        final int count;
        final long seconds;

        private Load(int count, long seconds) {
            this.count = count;
            this.seconds = seconds;
        }

        static Load start(String vip, int port, int perSecond, int count) {
            Load l = new Load(count, count / perSecond);
            AtomicInteger sent = new AtomicInteger();
            l.ticker.scheduleAtFixedRate(() -> {
                if (sent.getAndIncrement() >= count) {
                    return;
                }
                long at = System.nanoTime();
                l.workers.execute(() -> {
                    try {
                        String answer = get(vip, port);
                        l.outcomes.add(new Outcome(at, System.nanoTime(), answer, null));
                    } catch (IOException | RuntimeException e) {
                        l.outcomes.add(new Outcome(at, System.nanoTime(), "", e.toString()));
                    }
                });
            }, 0, 1_000_000 / perSecond, TimeUnit.MICROSECONDS);
            return l;
        }

        /** Every outcome, sorted by sending time; fails if they do not all come within the load's time plus 15 s. */
        List<Outcome> await() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds + 15);
            while (outcomes.size() < count) {
                if (System.nanoTime() > deadline) {
                    fail("only " + outcomes.size() + " of " + count + " requests finished");
                }
                Thread.sleep(20);
            }
            return outcomes.stream().sorted(Comparator.comparingLong(Outcome::sent)).toList();
        }

        void stop() throws InterruptedException {
            ticker.shutdownNow();
            workers.shutdownNow();
            workers.awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    /** GET / on a new connection; the body of a 200, else IOException. */
    static String get(String host, int port) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getByName(host), port), 2_000);
            s.setSoTimeout(3_000);
            s.getOutputStream().write(("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String all = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int body = all.indexOf("\r\n\r\n");
            if (!all.startsWith("HTTP/1.1 200 ") || body < 0) {
                throw new IOException("not a 200: '" + all.lines().findFirst().orElse("") + "'");
            }
            return all.substring(body + 4);
        }
    }

    // ---- DNS, ports, files ----------------------------------------------------------------------

    /** The agent's answers to NAME TYPE, as text, sorted; empty for NXDOMAIN or no data. */
    static List<String> answers(String name, int type) {
        try {
            SimpleResolver r = new SimpleResolver(new InetSocketAddress(DNS_ADDRESS, dnsPort));
            r.setTimeout(Duration.ofSeconds(2));
            Message m = r.send(Message.newQuery(Record.newRecord(Name.fromString(name), type, DClass.IN)));
            return m.getSection(Section.ANSWER).stream().filter(rr -> rr.getType() == type).map(Record::rdataToString).sorted().toList();
        } catch (IOException e) {
            throw new AssertionError("DNS " + name + " at " + DNS_ADDRESS + ":" + dnsPort + ": " + e, e);
        }
    }

    /** A TCP port free on every one of {@code addresses} right now. */
    static int freePort(String... addresses) throws IOException {
        for (int attempt = 0; attempt < 20; attempt++) {
            int port;
            try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(addresses[0]))) {
                port = s.getLocalPort();
            }
            boolean free = true;
            for (String a : addresses) {
                try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getByName(a))) {
                    s.getLocalPort();
                } catch (IOException taken) {
                    free = false;
                }
            }
            if (free) {
                return port;
            }
        }
        throw new IOException("no port free on all of " + List.of(addresses));
    }

    static int freeUdpAndTcpPort(String address) throws IOException {
        for (int i = 0; i < 20; i++) {
            try (ServerSocket tcp = new ServerSocket(0, 1, InetAddress.getByName(address));
                 DatagramSocket udp = new DatagramSocket(new InetSocketAddress(address, tcp.getLocalPort()))) {
                return udp.getLocalPort();
            } catch (IOException taken) {
                // UDP port in use: another
            }
        }
        throw new IOException("no port free for UDP and TCP on " + address);
    }

    /**
     * The client as a jar: the one Maven built, or, when the reactor has not packaged it yet
     * (client/target/classes on the classpath), the same classes jarred here. Only the client's classes.
     */
    static Path clientJar() throws Exception {
        Path where = Path.of(Portolan.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path jar = where;
        if (Files.isDirectory(where)) {
            jar = tmp.resolve("portolan-client.jar");
            try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> files = Files.walk(where)) {
                for (Path f : files.filter(Files::isRegularFile).sorted().toList()) {
                    out.putNextEntry(new JarEntry(where.relativize(f).toString().replace(File.separatorChar, '/')));
                    Files.copy(f, out);
                    out.closeEntry();
                }
            }
        }
        try (JarFile j = new JarFile(jar.toFile())) {
            List<String> foreign = j.stream().map(JarEntry::getName)
                    .filter(n -> !n.startsWith("io/portolan/client/") && !n.startsWith("META-INF/") && !n.equals("io/") && !n.equals("io/portolan/"))
                    .toList();
            assertEquals(List.of(), foreign, jar + " holds the client only");
        }
        return jar;
    }

    static void deleteTree(Path root) throws IOException {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
