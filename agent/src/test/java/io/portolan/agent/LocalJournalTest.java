package io.portolan.agent;

import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.agent.testing.EtcdServer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The embedded store's journal with the real agent process ({@code --dataplane none}, DNS on a
 * loopback port): {@code kill -9} while registrations arrive, a torn last record, a damaged record in
 * the middle, compaction across restarts, and the snapshot-only state directory of earlier versions.
 */
class LocalJournalTest {
    static final int SERVICES = 8;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** A running agent process on fresh loopback ports. */
    final class AgentProc implements AutoCloseable {
        final Process process;
        final int admin = EtcdServer.freePort();
        final int dns = EtcdServer.freePort();
        final Path log;

        AgentProc(Path dir, String name, long compactFloor) throws IOException {
            log = dir.resolve(name + ".log");
            ProcessBuilder pb = Cli.builder("agent", "--dataplane", "none", "--state-dir", dir.resolve("state").toString(),
                    "--admin-listen", "127.0.0.1:" + admin, "--dns-listen", "127.0.0.1:" + dns, "--node", "j1");
            pb.command().add(1, "-Dportolan.registry.compact-floor=" + compactFloor);
            process = pb.redirectErrorStream(true).redirectOutput(log.toFile()).start();
        }

        String base() {
            return "http://127.0.0.1:" + admin;
        }

        void awaitReady() throws Exception {
            Await.until("agent ready (" + log + ")", 30_000, () -> {
                assertTrue(process.isAlive(), () -> "agent exited: " + output());
                return status("GET", base() + "/readyz", null) == 200;
            });
        }

        String output() {
            try {
                return Files.readString(log, StandardCharsets.UTF_8);
            } catch (IOException e) {
                return e.toString();
            }
        }

        void kill9() throws InterruptedException {
            process.destroyForcibly(); // SIGKILL
            assertTrue(process.waitFor(10, TimeUnit.SECONDS));
        }

        @Override
        public void close() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    int status(String method, String url, String body) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5));
            b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody()) : b.method(method, HttpRequest.BodyPublishers.ofString(body));
            return http.send(b.build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    static String registration(int n, int ttl) {
        return "{\"service\":\"k" + (n % SERVICES) + "\",\"id\":\"i" + n + "\",\"address\":\"" + address(n)
                + "\",\"ports\":[{\"port\":80}],\"mode\":\"dnsrr\",\"ttl\":" + ttl + "}";
    }

    static String address(int n) {
        return "10.77." + (n / 250) + "." + (n % 250 + 1);
    }

    /** Every instance in {@code expected} is in the agent's snapshot and in its DNS answers. */
    void assertServed(AgentProc a, Set<Integer> expected) throws Exception {
        Await.until("every acknowledged registration in the snapshot", 20_000, () -> {
            String snap = body(a.base() + "/v1/snapshot");
            return expected.stream().allMatch(n -> snap.contains("\"id\":\"i" + n + "\""));
        });
        for (int s = 0; s < SERVICES; s++) {
            int svc = s;
            Set<String> want = new HashSet<>();
            expected.stream().filter(n -> n % SERVICES == svc).forEach(n -> want.add(address(n)));
            Set<String> got = new HashSet<>(Arrays.asList(dig(a.dns, "tasks.k" + s + ".portolan.internal").split("\n")));
            got.remove("");
            assertTrue(got.containsAll(want), "DNS for k" + s + ": missing " + minus(want, got));
        }
    }

    static Set<String> minus(Set<String> a, Set<String> b) {
        Set<String> out = new HashSet<>(a);
        out.removeAll(b);
        return out;
    }

    String body(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    static String dig(int port, String name) throws Exception {
        Process p = new ProcessBuilder("dig", "+tcp", "+short", "+time=3", "+tries=2", "-p", String.valueOf(port), "@127.0.0.1", name, "A")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(p.waitFor(15, TimeUnit.SECONDS));
        return out;
    }

    @Test
    void kill9_atARandomMoment_keepsEveryAcknowledgedRegistration_throughCompactions() throws Exception {
        Path dir = Files.createTempDirectory("journal-kill");
        Set<Integer> all = new HashSet<>();
        int offset = 0;
        for (int round = 0; round < 3; round++) {
            // a small compaction floor: compactions (rotations, background snapshots) happen while registering
            try (AgentProc a = new AgentProc(dir, "agent-" + round, 50)) {
                a.awaitReady();
                if (round > 0) {
                    assertServed(a, all); // what the previous round acknowledged survived its kill -9
                }
                AtomicBoolean started = new AtomicBoolean();
                long killAfter = ThreadLocalRandom.current().nextLong(300, 2_500);
                int base = offset;
                Thread killer = new Thread(() -> {
                    try {
                        Await.until("first registration", 20_000, started::get);
                        Thread.sleep(killAfter);
                        a.kill9();
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                });
                killer.start();
                Set<Integer> acked = new HashSet<>();
                for (int n : registerUntilGone(a, base, 1_500, 30_000, started)) {
                    acked.add(n + base);
                }
                killer.join();
                assertFalse(a.process.isAlive());
                System.out.printf("round %d: killed %d ms after the first 201, %d registrations acknowledged%n", round, killAfter, acked.size());
                assertFalse(acked.isEmpty());
                if (round == 0 && acked.size() > 100) {
                    assertTrue(Files.exists(dir.resolve("state/registry.json")), "a compaction ran while registering");
                }
                all.addAll(acked);
                offset += 1_500;
            }
        }
        try (AgentProc a = new AgentProc(dir, "agent-last", 50)) {
            a.awaitReady();
            assertServed(a, all);
            assertTrue(a.output().contains("replayed"), a.output());
        }
        assertTrue(Files.size(dir.resolve("state/registry.json")) > 0);
    }

    /** Registers ids base+0, base+1, ... from two client threads until the agent stops answering, {@code max} or {@code millis}; returns the offsets that got 201. */
    Set<Integer> registerUntilGone(AgentProc a, int base, int max, long millis, AtomicBoolean started) throws InterruptedException {
        Set<Integer> acked = ConcurrentHashMap.newKeySet();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            int first = t;
            Thread th = new Thread(() -> {
                for (int n = first; n < max && System.nanoTime() < deadline; n += 2) {
                    int code = status("POST", a.base() + "/v1/instances", registration(n + base, 120));
                    if (code == 201) {
                        acked.add(n);
                        started.set(true);
                        // registered again, as a registrant does after a 404: a change without a new key,
                        // so the journal outgrows the keys and compactions run
                        code = status("POST", a.base() + "/v1/instances", registration(n + base, 120));
                    }
                    if (code == 201) {
                        continue;
                    } else if (code == -1) {
                        return;
                    } else {
                        throw new AssertionError("registration " + n + ": HTTP " + code);
                    }
                }
            });
            th.setUncaughtExceptionHandler((thread, e) -> failures.add(e));
            th.start();
            threads.add(th);
        }
        for (Thread th : threads) {
            th.join();
        }
        if (!failures.isEmpty()) {
            throw new AssertionError("a registration failed (" + a.output() + ")", failures.get(0));
        }
        return acked;
    }

    @Test
    void tornLastRecord_isIgnoredWithAWarning_damagedMiddleRecord_isRefusedNamingFileAndLine() throws Exception {
        Path dir = Files.createTempDirectory("journal-torn");
        Set<Integer> acked = new HashSet<>();
        try (AgentProc a = new AgentProc(dir, "first", 10_000)) {
            a.awaitReady();
            for (int n = 0; n < 20; n++) {
                assertEquals(201, status("POST", a.base() + "/v1/instances", registration(n, 120)));
                acked.add(n);
            }
            a.kill9();
        }
        Path journal = dir.resolve("state/registry.journal");
        List<String> lines = Files.readAllLines(journal, StandardCharsets.UTF_8);
        assertTrue(lines.size() >= 20, "one line per change: " + lines.size());
        assertTrue(lines.get(lines.size() - 1).matches("\\{\"rev\":\\d+,\"ops\":\\[\\{\"put\":\"[^\"]+/i19\",\"ttl\":120,.*\\}\t[0-9a-f]{8}"),
                lines.get(lines.size() - 1));
        byte[] whole = Files.readAllBytes(journal);

        // a damaged record with valid ones after it: refused, naming the file, the line and its offset
        String[] damaged = lines.toArray(new String[0]);
        int bad = damaged.length - 3; // i17's registration
        damaged[bad] = damaged[bad].replace("\"ttl\":120", "\"ttl\":121");
        Files.writeString(journal, String.join("\n", damaged) + "\n", StandardCharsets.UTF_8);
        long offset = 0;
        for (int i = 0; i < bad; i++) {
            offset += damaged[i].getBytes(StandardCharsets.UTF_8).length + 1;
        }
        Cli.Result refused = Cli.run("agent", "--dataplane", "none", "--state-dir", dir.resolve("state").toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none");
        assertEquals(2, refused.code(), refused.output());
        assertTrue(refused.output().contains(journal.toString()) && refused.output().contains("line " + (bad + 1) + " (byte offset " + offset + ")")
                && refused.output().contains("checksum mismatch"), refused.output());
        assertTrue(Files.exists(journal), "the journal is left as it was");

        // the intact journal, cut in the middle of its last record (killed mid-append): the rest loads, with a warning
        Files.write(journal, Arrays.copyOf(whole, whole.length - 25));
        acked.remove(19);
        try (AgentProc a = new AgentProc(dir, "torn", 10_000)) {
            a.awaitReady();
            assertServed(a, acked);
            assertFalse(body(a.base() + "/v1/snapshot").contains("\"id\":\"i19\""));
            assertTrue(a.output().contains("ignoring a torn last record at line " + lines.size()), a.output());
        }
    }

    @Test
    void snapshotOnlyStateDirectory_ofEarlierVersions_loads() throws Exception {
        Path dir = Files.createTempDirectory("journal-upgrade");
        Files.createDirectories(dir.resolve("state"));
        // registry.json as main's build before the journal wrote it (rewritten whole on every change): k0/i0 and web/w1 with a VIP
        try (var in = LocalJournalTest.class.getResourceAsStream("/local/registry-before-journal.json")) {
            Files.write(dir.resolve("state/registry.json"), in.readAllBytes());
        }
        try (AgentProc a = new AgentProc(dir, "upgraded", 10_000)) {
            a.awaitReady();
            assertServed(a, Set.of(0));
            assertEquals("10.99.192.6", dig(a.dns, "web.portolan.internal"));
            assertEquals("10.77.9.9", dig(a.dns, "tasks.web.portolan.internal"));
            assertEquals(201, status("POST", a.base() + "/v1/instances", registration(8, 120)));
            a.kill9();
        }
        try (AgentProc a = new AgentProc(dir, "after", 10_000)) {
            a.awaitReady();
            assertServed(a, Set.of(0, 8));
            assertEquals("10.99.192.6", dig(a.dns, "web.portolan.internal"));
        }
    }
}
