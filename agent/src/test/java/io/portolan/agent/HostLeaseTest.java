package io.portolan.agent;

import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.agent.testing.LogCapture;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.portolan.agent.testing.EtcdClients.bs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One lease per host, against a real etcd: instances registered through the agent's HTTP API hang on the
 * agent's host lease (with its node's key), their TTLs are the agent's local deadlines, heartbeats send
 * nothing to etcd, the agent deletes the key of an instance whose heartbeats stopped, a restart takes the
 * lease back (or replaces it, when etcd lost it, putting every instance again), and an etcd that refuses
 * writes and leases (its quota full) gets an error naming etcd's words while the agent keeps what it had.
 */
class HostLeaseTest {
    static final String PREFIX = "/portolan/";
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    static Agent start(EtcdServer etcd, Path state, String node) throws Exception {
        Agent a = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--etcd-endpoints", etcd.endpoint().toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--state-dir", state.toString(), "--node", node}));
        Await.until("agent loaded", 15_000, () -> a.state().loaded());
        return a;
    }

    String base(Agent a) {
        return "http://127.0.0.1:" + a.adminAddress().getPort();
    }

    HttpResponse<String> send(Agent a, String method, String path, String body) {
        try {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base(a) + path)).timeout(Duration.ofSeconds(20));
            b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
            return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new AssertionError(method + " " + path + ": " + e, e);
        }
    }

    static String registration(String service, String id, int n, int ttl) {
        return "{\"service\":\"" + service + "\",\"id\":\"" + id + "\",\"address\":\"10.7." + (n / 250) + "." + (n % 250 + 1)
                + "\",\"ports\":[{\"name\":\"http\",\"port\":8080}],\"ttl\":" + ttl + "}";
    }

    /** Heartbeats for {@code ids} of service {@code service}, all sent at once; the statuses by id. */
    Map<String, Integer> heartbeats(Agent a, String service, List<String> ids) {
        Map<String, CompletableFuture<HttpResponse<Void>>> sent = new TreeMap<>();
        for (String id : ids) {
            sent.put(id, http.sendAsync(HttpRequest.newBuilder(URI.create(base(a) + "/v1/instances/" + service + "/" + id + "/heartbeat"))
                    .timeout(Duration.ofSeconds(20)).PUT(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding()));
        }
        Map<String, Integer> status = new TreeMap<>();
        sent.forEach((id, f) -> status.put(id, f.join().statusCode()));
        return status;
    }

    /** Every key under {@code prefix} with its lease id. */
    static Map<String, Long> leasesOf(Client c, String prefix) throws Exception {
        Map<String, Long> m = new TreeMap<>();
        for (KeyValue kv : c.getKVClient().get(bs(prefix), GetOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS).getKvs()) {
            m.put(kv.getKey().toString(StandardCharsets.UTF_8), kv.getLease());
        }
        return m;
    }

    /** Every key under {@code prefix} with its mod revision. */
    static Map<String, Long> modRevisions(Client c, String prefix) throws Exception {
        Map<String, Long> m = new TreeMap<>();
        for (KeyValue kv : c.getKVClient().get(bs(prefix), GetOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS).getKvs()) {
            m.put(kv.getKey().toString(StandardCharsets.UTF_8), kv.getModRevision());
        }
        return m;
    }

    static long revision(Client c) throws Exception {
        return c.getKVClient().get(bs("/nothing")).get(10, TimeUnit.SECONDS).getHeader().getRevision();
    }

    /** LeaseKeepAlive calls etcd has seen (each a stream: {@code grpc_server_started_total}). */
    static double keepAliveCalls(EtcdServer etcd) throws Exception {
        for (String line : etcd.metrics().split("\n")) {
            if (line.startsWith("grpc_server_started_total{") && line.contains("grpc_method=\"LeaseKeepAlive\"")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1).trim());
            }
        }
        throw new AssertionError("no LeaseKeepAlive calls counted in etcd's /metrics");
    }

    /** The leases etcd knows ({@code etcdctl lease list}), as hex ids. */
    static List<String> leaseList(EtcdServer etcd) throws Exception {
        String out = etcd.etcdctl("lease", "list");
        List<String> ids = new ArrayList<>();
        for (String line : out.split("\n")) {
            String l = line.strip();
            if (!l.isEmpty() && !l.startsWith("found")) {
                ids.add(l);
            }
        }
        assertTrue(out.startsWith("found " + ids.size() + " leases"), out);
        return ids;
    }

    Set<String> idsInSnapshot(Agent a, String service) {
        return a.publisher().current().instances(service).stream().map(i -> i.id()).collect(Collectors.toSet());
    }

    @Test
    void twoHundredInstances_oneLease_renewedOncePerThirdOfTtl_heartbeatsWriteNothing_silentOnesDeletedByTheAgent() throws Exception {
        int ttl = 3;
        int count = 200;
        try (EtcdServer etcd = new EtcdServer(); Client c = EtcdClients.client(etcd.endpoint())) {
            Agent a = start(etcd, Files.createTempDirectory("host-lease"), "lease-node");
            try {
                List<String> ids = new ArrayList<>();
                List<CompletableFuture<HttpResponse<String>>> posts = new ArrayList<>();
                for (int n = 0; n < count; n++) {
                    String id = "w" + n;
                    ids.add(id);
                    posts.add(http.sendAsync(HttpRequest.newBuilder(URI.create(base(a) + "/v1/instances")).timeout(Duration.ofSeconds(30))
                            .POST(HttpRequest.BodyPublishers.ofString(registration("web", id, n, ttl))).build(), HttpResponse.BodyHandlers.ofString()));
                    if (posts.size() % 20 == 0) { // a few at a time, heartbeating the registered ones meanwhile
                        posts.forEach(CompletableFuture::join);
                        heartbeats(a, "web", ids);
                    }
                }
                for (CompletableFuture<HttpResponse<String>> p : posts) {
                    assertEquals(201, p.join().statusCode(), p.join().body());
                }
                heartbeats(a, "web", ids);
                Await.until(count + " instances in the agent's snapshot", 10_000, () -> idsInSnapshot(a, "web").size() == count);

                // one lease in etcd: the host's, holding every instance and the node's key
                List<String> leases = leaseList(etcd);
                assertEquals(1, leases.size(), "exactly one lease for " + count + " instances: " + leases);
                long host = Long.parseLong(leases.get(0), 16);
                Map<String, Long> instanceLeases = leasesOf(c, PREFIX + "instances/web/");
                assertEquals(count, instanceLeases.size());
                assertEquals(Set.of(host), new HashSet<>(instanceLeases.values()), "every instance hangs on the host lease");
                assertEquals(host, leasesOf(c, PREFIX + "nodes/").get(PREFIX + "nodes/lease-node"), "the node's key too");

                // heartbeats for all of them, every TTL/3, for 6 s: etcd sees the one lease renewed every TTL/3 and no write
                double renewedBefore = etcd.metric("etcd_debugging_lease_renewed_total");
                double callsBefore = keepAliveCalls(etcd);
                long revBefore = revision(c);
                long t0 = System.nanoTime();
                int rounds = 0;
                long lastBeat = 0;
                while (System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(6)) {
                    long sentAt = System.nanoTime();
                    Map<String, Integer> st = heartbeats(a, "web", ids);
                    lastBeat = sentAt;
                    assertTrue(st.values().stream().allMatch(s -> s == 200), "heartbeats answered 200: " + st);
                    rounds++;
                    Thread.sleep(ttl * 1000L / 3);
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                double renewed = etcd.metric("etcd_debugging_lease_renewed_total") - renewedBefore;
                double calls = keepAliveCalls(etcd) - callsBefore;
                long revAfter = revision(c);
                double allowed = Math.floor(seconds / (ttl / 3.0)) + 2;
                System.out.printf("host lease: %d instances, %d heartbeat rounds (%d heartbeats) in %.1f s: %.0f LeaseKeepAlive calls,"
                        + " %.0f renewals seen by etcd (one lease, renewed every %d ms), revision %d -> %d%n", count, rounds, rounds * count,
                        seconds, calls, renewed, ttl * 1000 / 3, revBefore, revAfter);
                String perInstance = "; a lease per instance would be ~" + (int) (count * seconds / (ttl / 3.0));
                assertTrue(calls >= 2 && calls <= allowed, "LeaseKeepAlive calls in " + seconds + " s: " + calls + ", expected one per"
                        + " TTL/3 whatever the number of instances (at most " + allowed + perInstance + ")");
                // jetcd's keepAliveOnce sends its request twice (a write, then end(request)): etcd counts two renewals per call
                assertTrue(renewed <= 2 * calls, "etcd's lease renewals: " + renewed + " for " + calls + " calls" + perInstance);
                assertEquals(revBefore, revAfter, "heartbeats wrote nothing to etcd");
                assertEquals(List.of(leases.get(0)), leaseList(etcd), "still one lease");

                // half of the registrants fall silent: the agent deletes their keys after their TTL; the others stay
                List<String> silent = ids.subList(0, count / 2);
                List<String> alive = ids.subList(count / 2, count);
                long s0 = lastBeat;
                long gone;
                while (true) {
                    heartbeats(a, "web", alive);
                    Set<String> now = idsInSnapshot(a, "web");
                    if (silent.stream().noneMatch(now::contains)) {
                        gone = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - s0);
                        break;
                    }
                    assertTrue(System.nanoTime() - s0 < TimeUnit.SECONDS.toNanos(ttl + 5), "silent instances still there: "
                            + silent.stream().filter(now::contains).count());
                    Thread.sleep(ttl * 1000L / 3);
                }
                System.out.printf("host lease: %d silent instances deleted by the agent %d ms after their last heartbeat%n", silent.size(), gone);
                assertTrue(gone >= ttl * 1000L - 200, "not before their TTL: " + gone + " ms");
                assertEquals(new HashSet<>(alive), idsInSnapshot(a, "web"), "the heartbeated half stays");
                assertEquals(alive.size(), leasesOf(c, PREFIX + "instances/web/").size());
                // a silent one's registrant comes back: its heartbeat puts it again under the host lease
                assertEquals(200, heartbeats(a, "web", List.of(silent.get(0))).get(silent.get(0)));
                Await.until("the instance put again by its heartbeat", 5_000, () -> idsInSnapshot(a, "web").contains(silent.get(0)));
                assertEquals(host, leasesOf(c, PREFIX + "instances/web/").get(PREFIX + "instances/web/" + silent.get(0)));
                // and a deregistration deletes the key at once
                assertEquals(200, send(a, "DELETE", "/v1/instances/web/" + alive.get(0), null).statusCode());
                Await.until("deregistered", 2_000, () -> !idsInSnapshot(a, "web").contains(alive.get(0)));
                assertEquals(404, send(a, "PUT", "/v1/instances/web/" + alive.get(0) + "/heartbeat", null).statusCode());
            } finally {
                a.close();
            }
        }
    }

    @Test
    void restart_leaseAlive_takenBackWithoutWrites_leaseRevoked_newLeaseEveryInstanceBack() throws Exception {
        int count = 20;
        try (EtcdServer etcd = new EtcdServer(); Client c = EtcdClients.client(etcd.endpoint()); LogCapture log = new LogCapture()) {
            Path state = Files.createTempDirectory("host-lease-restart");
            Agent a = start(etcd, state, "restart-node");
            List<String> ids = new ArrayList<>();
            try {
                for (int n = 0; n < count; n++) {
                    ids.add("r" + n);
                    assertEquals(201, send(a, "POST", "/v1/instances", registration("api", "r" + n, n, 10)).statusCode());
                }
                Await.until("registered", 5_000, () -> idsInSnapshot(a, "api").size() == count);
            } finally {
                a.close();
            }
            List<String> first = leaseList(etcd);
            assertEquals(1, first.size(), first.toString());
            Map<String, Long> revs = modRevisions(c, PREFIX + "instances/api/");
            assertEquals(count, revs.size(), "a clean stop leaves the instances under the host lease");

            // started again while the lease lives: taken back, nothing put again, heartbeats answered (no 404)
            Agent b = start(etcd, state, "restart-node");
            try {
                Await.until("node announced again", 10_000, () -> b.publisher().current().nodes().containsKey("restart-node"));
                assertEquals(Long.parseLong(first.get(0), 16), ((io.portolan.agent.registry.etcd.EtcdRegistry) b.registry()).hostLeaseId(),
                        "the lease was taken back");
                assertEquals(revs, modRevisions(c, PREFIX + "instances/api/"), "no instance was written again");
                Map<String, Integer> st = heartbeats(b, "api", ids);
                assertTrue(st.values().stream().allMatch(s -> s == 200), "heartbeats after the restart: " + st);
                assertTrue(log.text().contains("took back lease " + first.get(0)), "the log says the lease was taken back");
            } finally {
                b.close();
            }

            // stopped, and its lease revoked behind its back: every instance goes from etcd
            etcd.etcdctl("lease", "revoke", first.get(0));
            assertTrue(leasesOf(c, PREFIX + "instances/api/").isEmpty());
            Agent d = start(etcd, state, "restart-node");
            try {
                Await.until("every instance back from the state directory", 10_000, () -> idsInSnapshot(d, "api").size() == count);
                List<String> now = leaseList(etcd);
                assertEquals(1, now.size(), now.toString());
                assertNotEquals(first.get(0), now.get(0), "a new lease");
                assertEquals(Set.of(Long.parseLong(now.get(0), 16)), new HashSet<>(leasesOf(c, PREFIX + "instances/api/").values()),
                        "every instance under the new lease");
                assertEquals(count, leasesOf(c, PREFIX + "instances/api/").size());
                assertTrue(log.text().contains("lease " + first.get(0) + " kept in "), "the log names the lost lease");
                Map<String, Integer> st = heartbeats(d, "api", ids);
                assertTrue(st.values().stream().allMatch(s -> s == 200), "heartbeats after the new lease: " + st);
            } finally {
                d.close();
            }
        }
    }

    @Test
    void killDash9_restartedAgentTakesItsLeaseBack_instancesUntouched_heartbeatsAnswered() throws Exception {
        int count = 30;
        try (EtcdServer etcd = new EtcdServer(); Client c = EtcdClients.client(etcd.endpoint())) {
            Path dir = Files.createTempDirectory("host-lease-kill");
            int port = EtcdServer.freePort();
            String base = "http://127.0.0.1:" + port;
            String[] flags = {"agent", "--dataplane", "none", "--etcd-endpoints", etcd.endpoint().toString(), "--admin-listen", "127.0.0.1:" + port,
                    "--dns-listen", "none", "--state-dir", dir.resolve("state").toString(), "--node", "kill-node"};
            Process first = io.portolan.agent.testing.Cli.builder(flags).redirectErrorStream(true)
                    .redirectOutput(dir.resolve("agent-1.log").toFile()).start();
            Process second = null;
            try {
                Await.until("first agent ready", 30_000, () -> status(base + "/readyz") == 200);
                List<String> ids = new ArrayList<>();
                for (int n = 0; n < count; n++) {
                    ids.add("k" + n);
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/instances"))
                            .POST(HttpRequest.BodyPublishers.ofString(registration("kill", "k" + n, n, 10))).build(), HttpResponse.BodyHandlers.ofString());
                    assertEquals(201, r.statusCode(), r.body());
                }
                Map<String, Long> revs = modRevisions(c, PREFIX + "instances/kill/");
                assertEquals(count, revs.size());
                List<String> lease = leaseList(etcd);
                first.destroyForcibly(); // kill -9: nothing written at exit
                assertTrue(first.waitFor(10, TimeUnit.SECONDS));

                second = io.portolan.agent.testing.Cli.builder(flags).redirectErrorStream(true)
                        .redirectOutput(dir.resolve("agent-2.log").toFile()).start();
                Await.until("restarted agent ready", 30_000, () -> status(base + "/readyz") == 200);
                Await.until("lease " + lease + " taken back", 10_000, () -> {
                    try {
                        return new String(Files.readAllBytes(dir.resolve("agent-2.log")), StandardCharsets.ISO_8859_1).contains("took back lease " + lease.get(0));
                    } catch (java.io.IOException e) {
                        return false;
                    }
                });
                assertEquals(lease, leaseList(etcd), "the same one lease");
                assertEquals(revs, modRevisions(c, PREFIX + "instances/kill/"), "every instance untouched");
                for (String id : ids) {
                    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/instances/kill/" + id + "/heartbeat"))
                            .PUT(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
                    assertEquals(200, r.statusCode(), id + ": " + r.body());
                }
            } finally {
                first.destroyForcibly();
                if (second != null) {
                    second.destroyForcibly();
                    second.waitFor(10, TimeUnit.SECONDS);
                }
            }
        }
    }

    int status(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding())
                    .statusCode();
        } catch (Exception e) {
            return -1;
        }
    }

    @Test
    void etcdQuotaFull_registrationRefusedNamingEtcd_agentKeepsWhatItHad_thenRecovers() throws Exception {
        try (EtcdServer etcd = new EtcdServer(List.of("--quota-backend-bytes", String.valueOf(4L << 20)));
             Client c = EtcdClients.client(etcd.endpoint()); LogCapture log = new LogCapture()) {
            Path state = Files.createTempDirectory("host-lease-quota");
            Agent a = start(etcd, state, "full-node");
            List<String> ids = List.of("q0", "q1", "q2");
            try {
                for (int n = 0; n < ids.size(); n++) {
                    assertEquals(201, send(a, "POST", "/v1/instances", registration("db", ids.get(n), n, 10)).statusCode());
                }
                Await.until("registered", 5_000, () -> idsInSnapshot(a, "db").size() == ids.size());
                fill(c);

                HttpResponse<String> refused = send(a, "POST", "/v1/instances", registration("db", "q9", 9, 10));
                System.out.println("registration with etcd full: " + refused.statusCode() + " " + refused.body());
                assertEquals(507, refused.statusCode(), refused.body());
                assertTrue(refused.body().contains("etcdserver: mvcc: database space exceeded"), refused.body());
                assertTrue(log.text().contains("etcdserver: mvcc: database space exceeded"), "the agent's log names etcd's words");
                // what it had stays: served, renewed (etcd renews leases while full), heartbeats answered
                Thread.sleep(4_000);
                assertEquals(Set.copyOf(ids), idsInSnapshot(a, "db"));
                assertTrue(heartbeats(a, "db", ids).values().stream().allMatch(s -> s == 200));
            } finally {
                a.close();
            }

            // restarted after its lease was revoked, with etcd still full: no lease can be granted, said in etcd's words
            List<String> leases = leaseList(etcd);
            assertEquals(1, leases.size(), leases.toString());
            etcd.etcdctl("lease", "revoke", leases.get(0));
            Agent b = start(etcd, state, "full-node");
            try {
                Await.until("the refused grant logged", 15_000, () -> log.lines("grant the host lease").stream()
                        .anyMatch(l -> l.contains("etcdserver: mvcc: database space exceeded")));
                HttpResponse<String> hb = send(b, "PUT", "/v1/instances/db/q0/heartbeat", null);
                assertEquals(503, hb.statusCode(), hb.body());
                assertTrue(hb.body().contains("held by this agent"), hb.body());
                assertTrue(b.ready(), "the agent serves (ready) while etcd refuses leases");

                // space freed and the alarm cleared: the agent grants a lease and puts every instance again
                free(etcd, c);
                Await.until("every kept instance put again once etcd takes writes", 20_000, () -> idsInSnapshot(b, "db").size() == ids.size());
                List<String> now = leaseList(etcd);
                assertEquals(1, now.size(), now.toString());
                assertEquals(Set.of(Long.parseLong(now.get(0), 16)), new HashSet<>(leasesOf(c, PREFIX + "instances/db/").values()));
                Await.until("heartbeats answered again", 10_000, () -> heartbeats(b, "db", ids).values().stream().allMatch(s -> s == 200));
            } finally {
                b.close();
            }
        }
    }

    /** Puts 256 KiB values outside the prefix until etcd says its space is exceeded (at most 64). */
    static void fill(Client c) throws Exception {
        byte[] big = new byte[256 * 1024];
        new java.util.Random(7).nextBytes(big);
        for (int i = 0; i < 64; i++) {
            try {
                c.getKVClient().put(bs("/filler/" + i), EtcdClients.bs(big)).get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                if (String.valueOf(e.getCause().getMessage()).contains("database space exceeded")) {
                    return;
                }
                throw e;
            }
        }
        throw new AssertionError("etcd took 16 MiB under a 4 MiB quota");
    }

    /** Deletes the filler, compacts, defragments and disarms the NOSPACE alarm. */
    static void free(EtcdServer etcd, Client c) throws Exception {
        c.getKVClient().delete(bs("/filler/"), io.etcd.jetcd.options.DeleteOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS);
        etcd.etcdctl("compact", String.valueOf(revision(c)));
        etcd.etcdctl("defrag");
        etcd.etcdctl("alarm", "disarm");
    }
}
