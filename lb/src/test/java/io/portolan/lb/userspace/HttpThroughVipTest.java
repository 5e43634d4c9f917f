package io.portolan.lb.userspace;

import io.portolan.lb.userspace.Fixtures.HttpInstance;
import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real HTTP servers behind a VIP, real HTTP clients through it: reach, exact rr, proportional wrr. */
class HttpThroughVipTest {
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    /** The TCP relay under test: the native one; {@code NettyHttpThroughVipTest} runs every test here on Netty's. */
    UserspaceConfig.TcpIo tcpIo() {
        return UserspaceConfig.TcpIo.NATIVE;
    }

    private UserspaceConfig.Builder fastConfig() {
        return Fixtures.fastConfig().tcpIo(tcpIo());
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : cleanup) {
            c.close();
        }
    }

    private List<HttpInstance> instances(int n) throws Exception {
        List<HttpInstance> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            HttpInstance h = new HttpInstance("i" + i, 0);
            cleanup.add(h);
            l.add(h);
        }
        return l;
    }

    /** A service on port 80 of a fresh VIP whose instances listen on their own ports (by port name). */
    private InetAddress serve(UserspaceDataPlane plane, String scheduler, List<HttpInstance> hs, int... weights) {
        InetAddress vip = Fixtures.freshVip();
        Service svc = Fixtures.service("web", vip, scheduler, new Port("http", 80, null));
        List<Instance> is = new ArrayList<>();
        for (int i = 0; i < hs.size(); i++) {
            is.add(Fixtures.instance(hs.get(i).name, "web", InetAddress.getLoopbackAddress(), hs.get(i).servicePort(),
                    weights.length > 0 ? weights[i] : 100));
        }
        plane.update(Fixtures.snapshot(1, svc, is));
        return vip;
    }

    private static Map<String, Integer> hammer(InetAddress vip, int connections, int threads) throws Exception {
        Map<String, Integer> counts = new ConcurrentHashMap<>();
        AtomicInteger left = new AtomicInteger(connections);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                fs.add(pool.submit(() -> {
                    while (left.getAndDecrement() > 0 && System.nanoTime() < deadline) {
                        counts.merge(Fixtures.get(vip, 80, Duration.ofSeconds(5)), 1, Integer::sum);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        return counts;
    }

    @Test
    void update_threeHttpInstances_httpClientReachesEveryInstance() throws Exception {
        List<HttpInstance> hs = instances(3);
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().build());
        cleanup.add(0, plane);
        InetAddress vip = serve(plane, "rr", hs);
        Set<String> seen = new TreeSet<>();
        for (int i = 0; i < 6; i++) {
            // a new client per request: the JDK client would otherwise keep one connection alive
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://" + vip.getHostAddress() + ":80/"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            seen.add(r.body());
        }
        assertEquals(Set.of("i0", "i1", "i2"), seen);
    }

    @Test
    void status_countsEachInstancesConnectionsAndBytes_onlyForInstancesWithTraffic() throws Exception {
        List<HttpInstance> hs = instances(3);
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().build());
        cleanup.add(0, plane);
        InetAddress vip = serve(plane, "rr", hs.subList(0, 2));
        io.portolan.lb.DataPlaneStatus before = plane.status();
        assertEquals("userspace", before.name());
        assertEquals(1, before.syncs());
        assertEquals(1, before.syncedRevision());
        assertTrue(before.lastSync() != null && before.lastSyncTook() != null);
        assertEquals(List.of(), before.traffic(), "no traffic yet: nothing listed");
        for (int i = 0; i < 4; i++) {
            assertTrue(Fixtures.get(vip, 80, Duration.ofSeconds(5)).startsWith("i"));
        }
        Map<String, io.portolan.lb.DataPlaneStatus.Traffic> byInstance = new java.util.TreeMap<>();
        plane.status().traffic().forEach(t -> byInstance.put(t.instance(), t));
        assertEquals(Set.of("i0", "i1"), byInstance.keySet(), "rr over two instances: both, and only those, had traffic");
        for (io.portolan.lb.DataPlaneStatus.Traffic t : byInstance.values()) {
            assertEquals("web", t.service());
            assertEquals("80/tcp", t.port());
            assertEquals(2, t.connections());
            assertTrue(t.active() >= 0 && t.active() <= 2);
            if (!plane.status().trafficNote().contains("splice")) {
                assertTrue(t.bytesToInstance() > 0 && t.bytesFromInstance() > 0, t.toString());
            }
        }
    }

    @Test
    void publishedPort_answersOnEveryLocalAddress_reachingEveryInstance_andGoesWithTheService() throws Exception {
        List<HttpInstance> hs = instances(2);
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().build());
        cleanup.add(0, plane);
        InetAddress vip = Fixtures.freshVip();
        int published;
        try (java.net.ServerSocket free = new java.net.ServerSocket(0)) {
            published = free.getLocalPort();
        }
        Service svc = new Service("web", io.portolan.proto.Mode.VIP, List.of(new Port("http", 80, null)), vip, "rr",
                List.of(new io.portolan.proto.PublishedPort(published, 80, null)), null);
        List<Instance> is = List.of(Fixtures.instance("i0", "web", InetAddress.getLoopbackAddress(), hs.get(0).servicePort(), 100),
                Fixtures.instance("i1", "web", InetAddress.getLoopbackAddress(), hs.get(1).servicePort(), 100));
        plane.update(Fixtures.snapshot(1, svc, is));
        Set<String> seen = new TreeSet<>();
        for (String local : List.of("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")) {
            seen.add(Fixtures.get(Fixtures.addr(local), published, Duration.ofSeconds(5)));
        }
        assertEquals(Set.of("i0", "i1"), seen, "any local address on the published port, round robin over both instances");
        assertTrue(Fixtures.get(vip, 80, Duration.ofSeconds(5)).startsWith("i"), "the VIP still answers");

        plane.update(Fixtures.snapshot(2, Fixtures.service("web", vip, "rr", new Port("http", 80, null)), is));
        assertThrows(IOException.class, () -> Fixtures.get(Fixtures.addr("127.0.0.1"), published, Duration.ofSeconds(2)),
                "unpublished: the listener is gone");
    }

    @Test
    void roundRobin_10000Connections_exactlyEvenAcrossInstances() throws Exception {
        List<HttpInstance> hs = instances(4);
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().build());
        cleanup.add(0, plane);
        InetAddress vip = serve(plane, "rr", hs);
        Map<String, Integer> counts = hammer(vip, 10_000, 8);
        assertEquals(Map.of("i0", 2500, "i1", 2500, "i2", 2500, "i3", 2500), counts);
    }

    @Test
    void weightedRoundRobin_10000Connections_proportionalWithin5Percent() throws Exception {
        List<HttpInstance> hs = instances(3);
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().build());
        cleanup.add(0, plane);
        InetAddress vip = serve(plane, "wrr", hs, 100, 200, 300);
        Map<String, Integer> counts = hammer(vip, 10_000, 8);
        assertEquals(10_000, counts.values().stream().mapToInt(Integer::intValue).sum());
        double[] expected = {10_000 / 6.0, 20_000 / 6.0, 30_000 / 6.0};
        for (int i = 0; i < 3; i++) {
            int got = counts.getOrDefault("i" + i, 0);
            assertTrue(Math.abs(got - expected[i]) <= 0.05 * expected[i], "i" + i + ": " + got + " vs " + expected[i] + " " + counts);
        }
    }

    @Test
    void splice_httpThroughVip_reachesEveryInstance() throws Exception {
        List<HttpInstance> hs = instances(2);
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().splice(true).build());
        cleanup.add(0, plane);
        InetAddress vip = serve(plane, "rr", hs);
        Map<String, Integer> counts = hammer(vip, 200, 4);
        assertEquals(Map.of("i0", 100, "i1", 100), counts);
    }
}
