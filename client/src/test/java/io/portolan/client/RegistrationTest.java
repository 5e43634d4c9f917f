package io.portolan.client;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** The client against a fake agent on a JDK HttpServer: registration, heartbeats, re-registration, retries, the shutdown order. */
class RegistrationTest {
    static final Service WEB = Service.named("web").port("http", 8080).ttl(Duration.ofSeconds(2)); // heartbeats every 666 ms

    FakeAgent agent;
    final List<Thread> hooks = new CopyOnWriteArrayList<>();
    final List<Registration> toClose = new ArrayList<>();

    @BeforeEach
    void up() throws Exception {
        agent = new FakeAgent();
    }

    @AfterEach
    void down() throws Exception {
        toClose.forEach(Registration::close);
        agent.close();
    }

    Portolan portolan(Duration retryFor) {
        return new Portolan(agent.uri(), retryFor, hooks::add);
    }

    Registration register(Service s) {
        Registration r = portolan(Duration.ofSeconds(5)).register(s);
        toClose.add(r);
        return r;
    }

    static void await(String what, long timeoutMillis, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail(what + ": not within " + timeoutMillis + " ms");
            }
            Thread.sleep(10);
        }
    }

    static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    @Test
    void register_postsTheServiceWithAnIdMadeHere_returnsIdAndVip() {
        Registration r = register(WEB);
        assertTrue(r.id().matches("web-[0-9a-f]{10}"), r.id());
        assertEquals("web", r.service());
        assertEquals(FakeAgent.VIP, r.vip().orElseThrow());
        List<FakeAgent.Request> posts = agent.requests("POST");
        assertEquals(1, posts.size());
        assertEquals("{\"service\":\"web\",\"id\":\"" + r.id() + "\",\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"tcp\"}],"
                + "\"mode\":\"vip\",\"weight\":100,\"ttl\":2}", posts.get(0).body());
        assertTrue(agent.known.contains("web/" + r.id()));
    }

    @Test
    void register_givenId_isUsed_andDnsrrHasNoVip() {
        agent.override = q -> q.method().equals("POST") ? new FakeAgent.Answer(201, "{\"service\":\"db\",\"id\":\"db-1\",\"node\":\"n1\",\"ttl\":10}") : null;
        Registration r = register(Service.named("db").port("pg", 5432).id("db-1").dnsrr());
        assertEquals("db-1", r.id());
        assertTrue(r.vip().isEmpty());
        assertTrue(agent.requests("POST").get(0).body().contains("\"id\":\"db-1\""));
        assertTrue(agent.requests("POST").get(0).body().contains("\"mode\":\"dnsrr\""));
    }

    @Test
    void heartbeats_everyThirdOfTheTtl() throws Exception {
        Registration r = register(WEB);
        long t0 = agent.requests("POST").get(0).nanos();
        await("three heartbeats", 4_000, () -> agent.requests("PUT").size() >= 3);
        List<FakeAgent.Request> puts = agent.requests("PUT");
        assertEquals("/v1/instances/web/" + r.id() + "/heartbeat", puts.get(0).path());
        long previous = t0;
        for (FakeAgent.Request p : puts.subList(0, 3)) {
            long gap = ms(p.nanos() - previous);
            assertTrue(gap >= 600 && gap < 1_500, "heartbeat " + gap + " ms after the previous one, expected ~666");
            previous = p.nanos();
        }
    }

    @Test
    void heartbeat404_registersAgainWithTheSameIdAndBody_thenHeartbeatsGoOn() throws Exception {
        Registration r = register(WEB);
        String body = agent.requests("POST").get(0).body();
        agent.known.clear(); // the agent restarted without its state
        await("registered again", 3_000, () -> agent.requests("POST").size() == 2);
        assertEquals(body, agent.requests("POST").get(1).body(), "the same id and body");
        assertTrue(agent.known.contains("web/" + r.id()));
        int puts = agent.requests("PUT").size();
        await("heartbeats after", 3_000, () -> agent.requests("PUT").size() >= puts + 1);
        assertEquals(2, agent.requests("POST").size(), "a 200 heartbeat does not register again");
    }

    @Test
    void heartbeatFailing_isTriedAgainSoonerThanThePeriod() throws Exception {
        Service s = Service.named("web").port("http", 8080).ttl(Duration.ofSeconds(6)); // period 2 s
        AtomicInteger failing = new AtomicInteger(2);
        agent.override = q -> q.method().equals("PUT") && failing.getAndDecrement() > 0 ? new FakeAgent.Answer(503, "{\"error\":\"etcd away\"}") : null;
        register(s);
        await("three heartbeats", 5_000, () -> agent.requests("PUT").size() >= 3);
        List<FakeAgent.Request> puts = agent.requests("PUT");
        long first = ms(puts.get(1).nanos() - puts.get(0).nanos());
        long second = ms(puts.get(2).nanos() - puts.get(1).nanos());
        assertTrue(first >= 200 && first < 1_000, "after the first failure: " + first + " ms (250 expected)");
        assertTrue(second >= 450 && second < 1_300, "after the second: " + second + " ms (500 expected)");
    }

    @Test
    void register_503_isRetriedWithTheSameId_untilTheAgentTakesIt() {
        AtomicInteger unavailable = new AtomicInteger(2);
        agent.override = q -> q.method().equals("POST") && unavailable.getAndDecrement() > 0
                ? new FakeAgent.Answer(503, "{\"error\":\"etcd: deadline exceeded\"}") : null;
        Registration r = register(WEB);
        List<FakeAgent.Request> posts = agent.requests("POST");
        assertEquals(3, posts.size());
        assertEquals(1, posts.stream().map(FakeAgent.Request::body).distinct().count(), "every attempt the same body and id");
        long waited = ms(posts.get(2).nanos() - posts.get(0).nanos());
        assertTrue(waited >= 280, "backoff 100 ms then 200 ms, waited " + waited);
        assertEquals(Set.of("web/" + r.id()), Set.copyOf(agent.known));
    }

    @Test
    void register_agentNotListeningYet_retriesUntilItIs() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        agent.close();
        CompletableFuture<FakeAgent> late = CompletableFuture.supplyAsync(() -> {
            try {
                Thread.sleep(700);
                return new FakeAgent(port);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        Registration r;
        try {
            r = new Portolan(URI.create("http://127.0.0.1:" + port), Duration.ofSeconds(10), hooks::add).register(WEB);
            toClose.add(r);
        } finally {
            agent = late.get(5, TimeUnit.SECONDS); // closed in down()
        }
        assertTrue(agent.known.contains("web/" + r.id()));
    }

    @Test
    void register_agentNeverThere_givesUpAfterTheRetryTime_namingTheAgent() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        long t0 = System.nanoTime();
        PortolanException e = assertThrows(PortolanException.class,
                () -> new Portolan(URI.create("http://127.0.0.1:" + port), Duration.ofMillis(600), hooks::add).register(WEB));
        long took = ms(System.nanoTime() - t0);
        assertEquals(0, e.status());
        assertTrue(e.getMessage().contains("http://127.0.0.1:" + port) && e.getMessage().contains("connection refused"), e.getMessage());
        assertTrue(took >= 600 && took < 4_000, "gave up after " + took + " ms");
    }

    @Test
    void register_refused_throwsAtOnceWithTheAgentsReason() {
        agent.override = q -> new FakeAgent.Answer(409, "{\"error\":\"service 'web' exists in mode dnsrr; delete it first\"}");
        PortolanException e = assertThrows(PortolanException.class, () -> register(WEB));
        assertEquals(409, e.status());
        assertTrue(e.getMessage().contains("service 'web' exists in mode dnsrr") && e.getMessage().contains(agent.uri().toString()),
                e.getMessage());
        assertEquals(1, agent.requests().size(), "no retry");
    }

    @Test
    void register_replyNotJson_isAnErrorNamingIt() {
        agent.override = q -> new FakeAgent.Answer(201, "<html>proxy</html>");
        PortolanException e = assertThrows(PortolanException.class, () -> register(WEB));
        assertTrue(e.getMessage().contains("not the JSON expected"), e.getMessage());
    }

    @Test
    void deregister_deletesTheInstance_andStopsTheHeartbeats() throws Exception {
        Registration r = register(WEB);
        r.deregister();
        List<FakeAgent.Request> deletes = agent.requests("DELETE");
        assertEquals(1, deletes.size());
        assertEquals("/v1/instances/web/" + r.id(), deletes.get(0).path());
        assertTrue(agent.known.isEmpty());
        int puts = agent.requests("PUT").size();
        Thread.sleep(1_500); // two heartbeat periods
        assertEquals(puts, agent.requests("PUT").size(), "no heartbeat after the deregistration");
        r.deregister();
        r.close();
        assertEquals(1, agent.requests("DELETE").size(), "once");
    }

    @Test
    void deregister_unknownToTheAgent_isDone() {
        Registration r = register(WEB);
        agent.known.clear();
        r.deregister(); // 404: nothing to remove
        assertEquals(1, agent.requests("DELETE").size());
    }

    @Test
    void deregister_refused_throwsWithTheReason_closeOnlyLogs() {
        Registration r = register(WEB);
        Registration s = register(WEB.id("web-2"));
        agent.override = q -> q.method().equals("DELETE") ? new FakeAgent.Answer(403, "{\"error\":\"registered from 127.0.0.31\"}") : null;
        PortolanException e = assertThrows(PortolanException.class, r::deregister);
        assertEquals(403, e.status());
        assertTrue(e.getMessage().contains("registered from 127.0.0.31"), e.getMessage());
        s.close(); // logged, not thrown
        assertEquals(2, agent.requests("DELETE").size());
    }

    @Test
    void deregister_whileAHeartbeatIsInFlight_waitsForIt_soNothingRegistersAgainAfterwards() throws Exception {
        Registration r = register(WEB);
        agent.heartbeatDelay = 400;
        agent.known.clear(); // the next heartbeat gets a 404 (after 400 ms) and registers again
        await("a heartbeat in flight", 2_000, () -> !agent.requests("PUT").isEmpty());
        r.deregister();
        List<FakeAgent.Request> all = agent.requests();
        FakeAgent.Request last = all.get(all.size() - 1);
        assertEquals("DELETE", last.method(), "the deregistration comes last: " + all);
        assertEquals(2, agent.requests("POST").size(), "the heartbeat in flight finished first (404, registered again)");
        assertTrue(agent.known.isEmpty(), "not registered again after the DELETE");
        Thread.sleep(1_000);
        assertEquals(all.size(), agent.requests().size(), "nothing after the DELETE");
    }

    @Test
    void shutdownHook_deregistersFirst_drains_thenRunsTheActionsInOrder() throws Exception {
        Registration r = register(WEB);
        List<String> ran = new CopyOnWriteArrayList<>();
        List<Long> at = new CopyOnWriteArrayList<>();
        r.deregisterOnShutdown(Duration.ofMillis(500))
                .onShutdown(() -> {
                    at.add(System.nanoTime());
                    ran.add("stop server");
                })
                .onShutdown(() -> {
                    throw new IllegalStateException("an action that fails");
                })
                .onShutdown(() -> ran.add("close pool"));
        r.deregisterOnShutdown(Duration.ofMillis(600)); // the last drain given counts; still one hook
        assertEquals(1, hooks.size(), "one hook per registration");
        assertTrue(agent.requests("DELETE").isEmpty(), "nothing before the JVM stops");

        hooks.get(0).run();

        assertEquals(List.of("stop server", "close pool"), ran);
        List<FakeAgent.Request> deletes = agent.requests("DELETE");
        assertEquals(1, deletes.size());
        long drained = ms(at.get(0) - deletes.get(0).nanos());
        assertTrue(drained >= 590 && drained < 2_000, "the server stopped " + drained + " ms after the deregistration (drain 600)");
    }

    @Test
    void shutdownHook_afterAnExplicitDeregistration_onlyRunsTheActions() {
        Registration r = register(WEB);
        List<String> ran = new CopyOnWriteArrayList<>();
        r.deregisterOnShutdown(Duration.ofSeconds(30)).onShutdown(() -> ran.add("stop"));
        r.deregister();
        long t0 = System.nanoTime();
        hooks.get(0).run();
        assertTrue(ms(System.nanoTime() - t0) < 1_000, "no drain: the application deregistered itself");
        assertEquals(List.of("stop"), ran);
        assertEquals(1, agent.requests("DELETE").size());
    }

    @Test
    void shutdownHook_agentGone_waitsUntilTheInstanceHasExpired_thenDrains() throws Exception {
        Registration r = new Portolan(agent.uri(), Duration.ofMillis(300), hooks::add).register(WEB); // ttl 2 s
        long registered = agent.requests("POST").get(0).nanos();
        List<Long> at = new CopyOnWriteArrayList<>();
        r.deregisterOnShutdown(Duration.ofMillis(200)).onShutdown(() -> at.add(System.nanoTime()));
        agent.close();
        hooks.get(0).run();
        long stopped = ms(at.get(0) - registered);
        assertTrue(stopped >= 2_150 && stopped < 5_000, "stopped " + stopped + " ms after the last confirmation (ttl 2 s + drain 200 ms)");
        agent = new FakeAgent(); // for down()
    }

    @Test
    void onShutdown_null_isRefused() {
        Registration r = register(WEB);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.onShutdown(null));
        assertTrue(e.getMessage().contains("shutdown action"), e.getMessage());
        assertFalse(hooks.size() > 0, "nothing installed");
    }
}
