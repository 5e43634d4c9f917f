package io.portolan.client;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The agent's instance API on a JDK HttpServer, as the real one answers it: POST stores the
 * instance (201 with service, id, node, vip, ttl), a heartbeat is 200 for a stored instance and 404
 * otherwise, DELETE is 200 or 404. {@link #override} answers instead, for the cases under test;
 * every request is recorded with its arrival time.
 */
final class FakeAgent implements AutoCloseable {
    record Request(String method, String path, String body, long nanos) {
    }

    record Answer(int status, String body) {
    }

    static final String VIP = "10.99.0.7";

    private final HttpServer server;
    private final ExecutorService executor = Executors.newFixedThreadPool(4);
    private final List<Request> requests = new ArrayList<>();
    final Set<String> known = ConcurrentHashMap.newKeySet();
    /** Answers a request instead of the default when it returns non-null. */
    volatile Function<Request, Answer> override = r -> null;
    /** Milliseconds each heartbeat waits before it is answered. */
    volatile long heartbeatDelay;

    FakeAgent() throws IOException {
        this(0);
    }

    FakeAgent(int port) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    URI uri() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    int port() {
        return server.getAddress().getPort();
    }

    synchronized List<Request> requests() {
        return List.copyOf(requests);
    }

    List<Request> requests(String method) {
        return requests().stream().filter(r -> r.method().equals(method)).toList();
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            Request r = new Request(ex.getRequestMethod(), ex.getRequestURI().getRawPath(),
                    new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8), System.nanoTime());
            synchronized (this) {
                requests.add(r);
            }
            Answer a = override.apply(r);
            if (a == null) {
                a = answer(r);
            }
            byte[] b = a.body().getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(a.status(), b.length == 0 ? -1 : b.length);
            if (b.length > 0) {
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(b);
                }
            }
        }
    }

    private Answer answer(Request r) {
        String[] p = r.path().split("/");
        if (r.method().equals("POST") && r.path().equals("/v1/instances")) {
            Map<String, Object> o = Json.object(r.body());
            String service = (String) o.get("service");
            String id = (String) o.get("id");
            known.add(service + "/" + id);
            return new Answer(201, "{\"service\":\"" + service + "\",\"id\":\"" + id + "\",\"node\":\"n1\",\"vip\":\"" + VIP
                    + "\",\"ttl\":" + o.get("ttl") + "}");
        }
        if (r.method().equals("PUT") && p.length == 6 && p[5].equals("heartbeat")) {
            sleep(heartbeatDelay);
            return known.contains(p[3] + "/" + p[4]) ? new Answer(200, "{\"ok\":true}")
                    : new Answer(404, "{\"error\":\"instance " + p[3] + "/" + p[4] + " is not registered through this agent; register it again\"}");
        }
        if (r.method().equals("DELETE") && p.length == 5) {
            return known.remove(p[3] + "/" + p[4]) ? new Answer(200, "{\"ok\":true}") : new Answer(404, "{\"error\":\"no instance\"}");
        }
        return new Answer(404, "{\"error\":\"no such endpoint: " + r.method() + " " + r.path() + "\"}");
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
