package io.portolan.lb.userspace;

import io.portolan.lb.userspace.Fixtures.HttpInstance;
import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Instances leaving under load: deregistered (drain, nothing fails) and killed (only in-flight fails). */
class DrainAndFailureTest {
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    /** The TCP relay under test: the native one; {@code NettyDrainAndFailureTest} runs every test here on Netty's. */
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

    /** Bounded load: {@code threads} clients looping GETs until stopped or 30 s passed. */
    private static final class Load implements AutoCloseable {
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicInteger ok = new AtomicInteger();
        final AtomicInteger failed = new AtomicInteger();
        final ExecutorService pool;
        final List<Future<?>> futures = new ArrayList<>();

        Load(InetAddress vip, int threads) {
            pool = Executors.newFixedThreadPool(threads);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            for (int t = 0; t < threads; t++) {
                futures.add(pool.submit(() -> {
                    while (!stop.get() && System.nanoTime() < deadline) {
                        try {
                            Fixtures.get(vip, 80, Duration.ofSeconds(5));
                            ok.incrementAndGet();
                        } catch (Exception e) {
                            failed.incrementAndGet();
                        }
                    }
                }));
            }
        }

        @Override
        public void close() throws Exception {
            stop.set(true);
            for (Future<?> f : futures) {
                f.get();
            }
            pool.shutdownNow();
        }
    }

    @Test
    void update_instanceRemovedUnderLoad_noFailedRequestAndInFlightComplete() throws Exception {
        List<HttpInstance> hs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            HttpInstance h = new HttpInstance("i" + i, 150);
            cleanup.add(h);
            hs.add(h);
        }
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().build());
        cleanup.add(0, plane);
        InetAddress vip = Fixtures.freshVip();
        Service svc = Fixtures.service("web", vip, "rr", new Port("http", 80, null));
        List<Instance> all = new ArrayList<>();
        for (HttpInstance h : hs) {
            all.add(Fixtures.instance(h.name, "web", InetAddress.getLoopbackAddress(), h.servicePort(), 100));
        }
        plane.update(Fixtures.snapshot(1, svc, all));
        Frontend fe = plane.frontend(vip, 80, Protocol.TCP);
        int removedCountAtEnd;
        int okAtRemoval;
        Load load = new Load(vip, 12);
        try {
            Fixtures.await("traffic on every instance", Duration.ofSeconds(10), () -> hs.stream().allMatch(h -> h.requests.get() > 3));
            okAtRemoval = load.ok.get();
            plane.update(Fixtures.snapshot(2, svc, all.subList(0, 2)));
            // requests in flight to i2 at removal end within its 150 ms delay; none start after
            Thread.sleep(400);
            removedCountAtEnd = hs.get(2).requests.get();
            Thread.sleep(1000);
        } finally {
            load.close();
        }
        assertEquals(0, load.failed.get(), "failed requests");
        assertTrue(load.ok.get() > okAtRemoval + 20, "load went on after the removal");
        assertEquals(removedCountAtEnd, hs.get(2).requests.get(), "the removed instance got new requests");
        Fixtures.await("the removed instance drained", Duration.ofSeconds(5), () -> fe.backendCount() == 2);
    }

    @Test
    void connect_instanceKilledWithoutDeregistration_onlyInFlightFailAndItIsEjected() throws Exception {
        List<HttpInstance> hs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            HttpInstance h = new HttpInstance("i" + i, 20);
            cleanup.add(h);
            hs.add(h);
        }
        UserspaceConfig.Eject eject = new UserspaceConfig.Eject(true, Duration.ofSeconds(2), 3, 50f, Duration.ofSeconds(60), 0.5);
        UserspaceDataPlane plane = Fixtures.plane(fastConfig().eject(eject).build());
        cleanup.add(0, plane);
        InetAddress vip = Fixtures.freshVip();
        Service svc = Fixtures.service("web", vip, "rr", new Port("http", 80, null));
        List<Instance> all = new ArrayList<>();
        for (HttpInstance h : hs) {
            all.add(Fixtures.instance(h.name, "web", InetAddress.getLoopbackAddress(), h.servicePort(), 100));
        }
        plane.update(Fixtures.snapshot(1, svc, all));
        Frontend fe = plane.frontend(vip, 80, Protocol.TCP);
        Backend killed = fe.scheduler.backends().stream().filter(b -> b.instanceId.equals("i1")).findFirst().orElseThrow();
        int threads = 8;
        Load load = new Load(vip, threads);
        long errorsAfterEjection;
        try {
            Fixtures.await("traffic on every instance", Duration.ofSeconds(10), () -> hs.stream().allMatch(h -> h.requests.get() > 3));
            hs.get(1).close();
            Fixtures.await("i1 ejected", Duration.ofSeconds(8), () -> killed.ejected);
            errorsAfterEjection = killed.connectErrors.sum();
            int okBefore = load.ok.get();
            Fixtures.await("200 more requests", Duration.ofSeconds(20), () -> load.ok.get() > okBefore + 200);
        } finally {
            load.close();
        }
        assertTrue(load.failed.get() <= threads, "only requests in flight to the killed instance may fail: " + load.failed.get());
        assertEquals(errorsAfterEjection, killed.connectErrors.sum(), "connects to the ejected instance");
        assertEquals(1, killed.ejections.sum());
    }
}
