package io.portolan.agent.health;

import com.sun.net.httpserver.HttpServer;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Checks run by an in-process agent (embedded store) against real servers on 127.x addresses: an
 * HTTP instance that starts answering 500, a hung one, a closed port, gRPC's health service, the
 * panic threshold, and an instance of another node that this agent leaves alone.
 */
class HealthCheckTest {
    static Agent agent;
    static final HttpClient http = HttpClient.newHttpClient();
    static final List<AutoCloseable> servers = new ArrayList<>();

    @BeforeAll
    static void up() throws Exception {
        agent = Agent.start(AgentConfig.parse(new String[]{"--dataplane", "none", "--state-dir", Files.createTempDirectory("health").toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--node", "n1", "--advertise-address", "127.0.0.1"}));
        Await.until("loaded", 5_000, () -> agent.state().loaded());
    }

    @org.junit.jupiter.api.AfterAll
    static void down() throws Exception {
        agent.close();
        for (AutoCloseable s : servers) {
            s.close();
        }
    }

    static void register(String service, String id, String address, int port, String check) throws Exception {
        register(service, id, address, port, check, null);
    }

    static void register(String service, String id, String address, int port, String check, String node) throws Exception {
        String body = "{\"service\":\"" + service + "\",\"id\":\"" + id + "\",\"address\":\"" + address + "\",\"ports\":[{\"name\":\"http\",\"port\":"
                + port + "}],\"ttl\":60" + (node == null ? "" : ",\"node\":\"" + node + "\"") + ",\"check\":" + check + "}";
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.adminAddress().getPort() + "/v1/instances"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(201, r.statusCode(), r.body());
    }

    static Instance instance(String service, String id) {
        return agent.publisher().current().instances(service).stream().filter(i -> i.id().equals(id)).findFirst().orElse(null);
    }

    static boolean health(String service, String id, Health h) {
        Instance i = instance(service, id);
        return i != null && i.health() == h;
    }

    /** An HTTP server on {@code address} whose /health answers {@code status.get()}; counts requests. */
    static int httpServer(String address, AtomicInteger status, AtomicInteger hits) throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getByName(address), 0), 16);
        s.createContext("/health", ex -> {
            hits.incrementAndGet();
            ex.sendResponseHeaders(status.get(), -1);
            ex.close();
        });
        s.start();
        servers.add(() -> s.stop(0));
        return s.getAddress().getPort();
    }

    static final String FAST_HTTP = "{\"kind\":\"http\",\"path\":\"/health\",\"interval\":\"200ms\",\"timeout\":\"150ms\",\"rise\":2,\"fall\":2}";

    @Test
    void http_answering500_leavesServingWithinIntervalTimesFallPlus1s_andReturnsAfterRise() throws Exception {
        AtomicInteger aStatus = new AtomicInteger(200);
        AtomicInteger hits = new AtomicInteger();
        register("web", "a", "127.0.0.61", httpServer("127.0.0.61", aStatus, hits), FAST_HTTP);
        register("web", "b", "127.0.0.62", httpServer("127.0.0.62", new AtomicInteger(200), new AtomicInteger()), FAST_HTTP);
        Await.until("checks run", 3_000, () -> hits.get() >= 2);
        assertEquals(2, agent.publisher().current().servingInstances("web").size());

        aStatus.set(500);
        long t0 = System.nanoTime();
        Await.until("a unhealthy", 200 * 2 + 1_000 + 500, () -> health("web", "a", Health.UNHEALTHY));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertTrue(ms <= 200 * 2 + 1_000 + 500, "took " + ms + " ms");
        ClusterSnapshot s = agent.publisher().current();
        assertEquals(List.of("b"), s.servingInstances("web").stream().map(Instance::id).toList(), "a left out of DNS and the planes");
        assertTrue(instance("web", "a").healthReason().contains("500"), instance("web", "a").healthReason());
        assertFalse(s.panicking("web"));

        aStatus.set(200);
        Await.until("a healthy again", 200 * 2 + 1_000 + 500, () -> health("web", "a", Health.HEALTHY));
        assertEquals(2, agent.publisher().current().servingInstances("web").size());
    }

    @Test
    void hungInstance_failsByTimeout() throws Exception {
        ServerSocket hung = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.63")); // accepts (backlog), never answers
        servers.add(hung);
        register("hung", "h", "127.0.0.63", hung.getLocalPort(), "{\"kind\":\"http\",\"path\":\"/\",\"interval\":\"300ms\",\"timeout\":\"100ms\",\"fall\":1}");
        register("hung", "ok", "127.0.0.64", httpServer("127.0.0.64", new AtomicInteger(204), new AtomicInteger()),
                "{\"kind\":\"tcp\",\"interval\":\"300ms\",\"timeout\":\"100ms\"}");
        Await.until("hung unhealthy", 3_000, () -> health("hung", "h", Health.UNHEALTHY));
        assertTrue(instance("hung", "h").healthReason().contains("timed out"), instance("hung", "h").healthReason());
        assertTrue(health("hung", "ok", Health.HEALTHY));
    }

    @Test
    void everyInstanceUnhealthy_allServed_panic() throws Exception {
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.65"))) {
            closed = s.getLocalPort(); // nothing listens there any more: connection refused
        }
        register("lonely", "x", "127.0.0.65", closed, "{\"kind\":\"tcp\",\"interval\":\"200ms\",\"timeout\":\"100ms\",\"fall\":1}");
        Await.until("x unhealthy", 3_000, () -> health("lonely", "x", Health.UNHEALTHY));
        ClusterSnapshot s = agent.publisher().current();
        assertTrue(s.panicking("lonely"));
        assertEquals(List.of("x"), s.servingInstances("lonely").stream().map(Instance::id).toList(), "served anyway");
        Await.until("gauge", 2_000, () -> agent.publisher() != null
                && scrape().contains("portolan_services_panicking 1.0"));
    }

    static String scrape() {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.adminAddress().getPort() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        } catch (Exception e) {
            return "";
        }
    }

    @Test
    void grpcHealthService_servingThenNotServing() throws Exception {
        AtomicInteger status = new AtomicInteger(1); // SERVING
        ServerServiceDefinition health = ServerServiceDefinition.builder("grpc.health.v1.Health")
                .addMethod(Probes.Grpc.CHECK, ServerCalls.asyncUnaryCall((byte[] req, io.grpc.stub.StreamObserver<byte[]> out) -> {
                    out.onNext(new byte[]{0x08, (byte) status.get()});
                    out.onCompleted();
                }))
                .build();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getByName("127.0.0.66"), 0))
                .addService(health).build().start();
        servers.add(server::shutdownNow);
        // A generous timeout (at most the interval) and fall 2: the first call also sets up the channel,
        // which on a loaded 2-core machine took over 150 ms and failed the check (DEADLINE_EXCEEDED).
        register("rpc", "g", "127.0.0.66", server.getPort(), "{\"kind\":\"grpc\",\"interval\":\"1s\",\"timeout\":\"1s\",\"fall\":2}");
        register("rpc", "other", "127.0.0.67", httpServer("127.0.0.67", new AtomicInteger(200), new AtomicInteger()),
                "{\"kind\":\"tcp\",\"interval\":\"200ms\",\"timeout\":\"150ms\"}");
        Thread.sleep(2_500); // at least two checks (1 s apart, the first jittered) have run and passed
        assertTrue(health("rpc", "g", Health.HEALTHY));
        status.set(2); // NOT_SERVING
        Await.until("g unhealthy", 6_000, () -> health("rpc", "g", Health.UNHEALTHY));
        assertTrue(instance("rpc", "g").healthReason().contains("NOT_SERVING"), instance("rpc", "g").healthReason());
    }

    @Test
    void anotherNodesInstance_notCheckedHere() throws Exception {
        AtomicInteger hits = new AtomicInteger();
        AtomicInteger status = new AtomicInteger(500);
        register("far", "f", "127.0.0.68", httpServer("127.0.0.68", status, hits), FAST_HTTP, "n2");
        Thread.sleep(1_000);
        assertEquals(0, hits.get(), "only the agent of node n2 runs its check");
        assertTrue(health("far", "f", Health.HEALTHY), "its health is left as stored");
    }

    @Test
    void probesLeaveNoTimeWait() throws Exception {
        AtomicInteger hits = new AtomicInteger();
        register("quiet", "q", "127.0.0.69", httpServer("127.0.0.69", new AtomicInteger(200), hits),
                "{\"kind\":\"http\",\"path\":\"/health\",\"interval\":\"100ms\",\"timeout\":\"80ms\"}");
        Await.until("20 checks", 10_000, () -> hits.get() >= 20);
        String ss = new String(new ProcessBuilder("ss", "-tan", "state", "time-wait", "dst", "127.0.0.69").start().getInputStream().readAllBytes());
        long timeWait = ss.lines().filter(l -> l.contains("127.0.0.69")).count();
        assertTrue(timeWait == 0, "the checker's sockets close with a reset: " + ss);
    }
}
