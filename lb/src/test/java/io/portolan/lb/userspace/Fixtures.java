package io.portolan.lb.userspace;

import com.sun.net.httpserver.HttpServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import io.portolan.proto.testing.Snapshots;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/** In-memory snapshots, loopback HTTP instances and a raw HTTP/1.0 client for the tests. */
final class Fixtures {
    private static final AtomicInteger NEXT_VIP = new AtomicInteger(1);

    private Fixtures() {
    }

    /** A fresh VIP in 127.77.0.0/16: already local on lo, so no {@code ip addr} is needed. */
    static InetAddress freshVip() {
        int n = NEXT_VIP.getAndIncrement();
        try {
            return InetAddress.getByAddress(new byte[]{127, 77, (byte) (n >> 8), (byte) n});
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    static InetAddress addr(String s) {
        try {
            return InetAddress.getByName(s);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    static Service service(String name, InetAddress vip, String scheduler, Port... ports) {
        return new Service(name, Mode.VIP, List.of(ports), vip, scheduler, List.of(), null);
    }

    static Instance instance(String id, String service, InetAddress address, Port port, int weight) {
        return new Instance(id, service, "node1", address, List.of(port), weight, Health.HEALTHY, Map.of(), null, null);
    }

    static ClusterSnapshot snapshot(long revision, Service service, Collection<Instance> instances) {
        Snapshots b = Snapshots.builder().service(service);
        instances.forEach(b::instance);
        return b.build(revision);
    }

    static UserspaceDataPlane plane(UserspaceConfig config) {
        return new UserspaceDataPlane(config, new SimpleMeterRegistry(), VipBinder.NONE);
    }

    static UserspaceConfig.Builder fastConfig() {
        return UserspaceConfig.builder().drainTimeout(Duration.ofSeconds(5)).threads(2);
    }

    /** An HTTP instance on 127.0.0.1 answering its name, after {@code delayMs}. */
    static final class HttpInstance implements AutoCloseable {
        final String name;
        final HttpServer server;
        final AtomicInteger requests = new AtomicInteger();

        HttpInstance(String name, int delayMs) throws IOException {
            this.name = name;
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 512);
            server.createContext("/", ex -> {
                requests.incrementAndGet();
                ex.getRequestBody().readAllBytes();
                if (delayMs > 0) {
                    try {
                        Thread.sleep(delayMs);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                byte[] body = name.getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(200, body.length);
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(body);
                }
            });
            server.setExecutor(Executors.newFixedThreadPool(16, r -> {
                Thread t = new Thread(r, "http-" + name);
                t.setDaemon(true);
                return t;
            }));
            server.start();
        }

        int port() {
            return server.getAddress().getPort();
        }

        Port servicePort() {
            return new Port("http", port(), null);
        }

        @Override
        public void close() {
            server.stop(0);
        }
    }

    /** GET / over HTTP/1.0 (one connection, closed by the server): the body, or throws. */
    static String get(InetAddress vip, int port, Duration timeout) throws IOException {
        try (Socket s = new Socket()) {
            s.setSoTimeout((int) timeout.toMillis());
            s.connect(new InetSocketAddress(vip, port), (int) timeout.toMillis());
            s.getOutputStream().write("GET / HTTP/1.0\r\nHost: vip\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            String resp = new String(readAll(s.getInputStream()), StandardCharsets.UTF_8);
            if (!resp.startsWith("HTTP/1.1 200") && !resp.startsWith("HTTP/1.0 200")) {
                throw new IOException("bad response: " + (resp.isEmpty() ? "(connection closed)" : resp.lines().findFirst().orElse("")));
            }
            int i = resp.indexOf("\r\n\r\n");
            return resp.substring(i + 4);
        }
    }

    static byte[] readAll(InputStream in) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        int n;
        while ((n = in.read(buf)) > 0) {
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    static void await(String what, Duration timeout, java.util.function.BooleanSupplier cond) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            Thread.sleep(20);
        }
    }
}
