package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Health checks across hosts (ROUTED layout, nftables): {@code web} has instances in containers on
 * hosts 1 and 2, each checked ({@code http:/health}, every 500 ms, fall 2, rise 1) by its own
 * host's agent. When web1's /health starts failing (its file removed: the server answers 404), web1
 * leaves the DNS answers of every host and the VIP within interval × fall + 1 s; when it answers
 * again, it comes back within interval × rise + 1 s.
 */
class FleetHealthTest {
    static final long INTERVAL = 500;
    static final int FALL = 2;
    static final int RISE = 1;

    @Test
    void failingInstance_leavesEveryHostWithinIntervalTimesFallPlus1s_andComesBack() throws Exception {
        try (Fleet fleet = Fleet.start(Fleet.Layout.ROUTED, Fleet.Plane.NFTABLES)) {
            Host h1 = fleet.host(1);
            Host h2 = fleet.host(2);
            Container web1 = h1.container("web1");
            Container web2 = h2.container("web2");
            web1.serveHttp(8000);
            web2.serveHttp(8000);
            Path health1 = fleet.dir().resolve("www-web1-8000").resolve("health");
            Files.writeString(health1, "ok\n");
            Files.writeString(fleet.dir().resolve("www-web2-8000").resolve("health"), "ok\n");
            String[] check = {"--check", "http:/health", "--check-interval", INTERVAL + "ms", "--check-timeout", "300ms",
                    "--check-fall", String.valueOf(FALL), "--check-rise", String.valueOf(RISE)};
            h1.register(concat(new String[]{"--service", "web", "--address", web1.address, "--port", "http:8000", "--id", "web1"}, check));
            h2.register(concat(new String[]{"--service", "web", "--address", web2.address, "--port", "http:8000", "--id", "web2"}, check));
            Set<String> both = Set.of(web1.address, web2.address);
            for (Host h : fleet.hosts()) {
                fleet.await(h.node + " answers both instances", Duration.ofSeconds(30),
                        () -> Set.copyOf(h.dig(h.gateway, "tasks.web." + Fleet.ZONE)).equals(both));
            }

            Files.delete(health1);
            long t0 = System.nanoTime();
            long worst = 0;
            for (Host h : fleet.hosts()) {
                fleet.await(h.node + " leaves web1 out", Duration.ofSeconds(10),
                        () -> h.dig(h.gateway, "tasks.web." + Fleet.ZONE).equals(List.of(web2.address)));
                worst = Math.max(worst, (System.nanoTime() - t0) / 1_000_000);
            }
            System.out.printf("fleet health: web1 failing -> out of every host's DNS in %d ms (bound %d ms)%n", worst,
                    INTERVAL * FALL + 1000);
            assertTrue(worst <= INTERVAL * FALL + 1000 + INTERVAL, "within interval x fall + 1 s (plus one interval: the "
                    + "first failed check comes up to one interval after the failure began): " + worst + " ms");
            Container probe = fleet.host(3).container("probe");
            Fleet.Tally viaVip = probe.load("http://web:8000/", 20);
            assertEquals(0, viaVip.failures(), viaVip.toString());
            assertEquals(Set.of("web2"), viaVip.answers().keySet(), "the VIP leaves web1 out too: " + viaVip);
            String reason = h1.admin("/v1/snapshot");
            assertTrue(reason != null && reason.contains("404"), "the reason is stored with the instance: " + reason);

            Files.writeString(health1, "ok\n");
            long t1 = System.nanoTime();
            long back = 0;
            for (Host h : fleet.hosts()) {
                fleet.await(h.node + " answers web1 again", Duration.ofSeconds(10),
                        () -> Set.copyOf(h.dig(h.gateway, "tasks.web." + Fleet.ZONE)).equals(both));
                back = Math.max(back, (System.nanoTime() - t1) / 1_000_000);
            }
            System.out.printf("fleet health: web1 answering again -> back on every host in %d ms (bound %d ms)%n", back,
                    INTERVAL * RISE + 1000);
            assertTrue(back <= INTERVAL * RISE + 1000 + INTERVAL, "within interval x rise + 1 s: " + back + " ms");
        }
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
