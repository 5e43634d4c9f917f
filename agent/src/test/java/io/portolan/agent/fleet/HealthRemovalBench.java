package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * bench/health's removal figure: the time from an instance's first failed health check to its removal from the DNS
 * answer on every host, and from its first passing check to its return. A 3-host fleet (ROUTED, data plane none: the
 * planes follow the same snapshot); {@code web} has an instance in a container on host 1 (checked by host 1's agent:
 * {@code http:/health}, INTERVAL, timeout 300 ms, fall FALL, rise 1) and one on host 2 (so the panic threshold never
 * applies). The instance's server (health_server.py) answers 500 while a flag file is missing and prints each check's
 * CLOCK_MONOTONIC time; a probe JVM in a container on each host (FleetBench's) polls {@code tasks.web} about every
 * millisecond. Each round removes the flag, takes the first failing check's time from the server's output and the last
 * host's "gone" from the probes, then restores it likewise. With FALL 1 the figure is portolan's own delay (the agent
 * writes the outcome to etcd, every agent's watch, the DNS table); with FALL n it adds (n-1) intervals by design.
 * Usage: {@code HealthRemovalBench [ROUNDS=20] [INTERVAL_MS=500] [FALL=1]}; every loop bounded in count and time.
 */
public final class HealthRemovalBench {
    private HealthRemovalBench() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 20;
        long interval = args.length > 1 ? Long.parseLong(args[1]) : 500;
        int fall = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        if (rounds < 1 || rounds > 500 || interval < 100 || interval > 10_000 || fall < 1 || fall > 10) {
            throw new IllegalArgumentException("ROUNDS 1-500, INTERVAL_MS 100-10000, FALL 1-10");
        }
        Path script = Path.of(HealthRemovalBench.class.getResource("health_server.py").toURI());
        List<Long> removal = new ArrayList<>();
        List<Long> back = new ArrayList<>();
        try (Fleet f = Fleet.start(Fleet.options().hosts(3).layout(Fleet.Layout.ROUTED).plane(Fleet.Plane.NONE))) {
            Host h1 = f.host(1);
            Host h2 = f.host(2);
            Container web1 = h1.container("web1");
            Container web2 = h2.container("web2");
            Path flag1 = f.dir().resolve("web1.ok");
            Path flag2 = f.dir().resolve("web2.ok");
            Files.writeString(flag1, "ok\n");
            Files.writeString(flag2, "ok\n");
            Path log1 = f.dir().resolve("web1-health.log");
            web1.spawn(log1, "python3", script.toString(), web1.address, "8000", flag1.toString());
            web2.spawn(f.dir().resolve("web2-health.log"), "python3", script.toString(), web2.address, "8000", flag2.toString());
            String[] check = {"--check", "http:/health", "--check-interval", interval + "ms", "--check-timeout", "300ms",
                    "--check-fall", String.valueOf(fall), "--check-rise", "1"};
            h1.register(FleetHealthTest.concat(new String[] {"--service", "web", "--address", web1.address, "--port", "http:8000", "--id", "web1"}, check));
            h2.register(FleetHealthTest.concat(new String[] {"--service", "web", "--address", web2.address, "--port", "http:8000", "--id", "web2"}, check));
            List<FleetBench.Probe> probes = new ArrayList<>();
            try {
                for (Host h : f.hosts()) {
                    probes.add(FleetBench.Probe.start(f, h.container("probe" + h.index), "tasks.web", 30));
                }
                for (Host h : f.hosts()) {
                    f.await(h.node + " answers web1", Duration.ofSeconds(30), () -> h.dig(h.gateway, "tasks.web." + Fleet.ZONE).contains(web1.address));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60L * rounds);
                for (int i = 0; i < rounds && System.nanoTime() < deadline; i++) {
                    long r = flip(probes, "absent", web1.address, () -> Files.delete(flag1), log1, 500);
                    long b = flip(probes, "present", web1.address, () -> Files.writeString(flag1, "ok\n"), log1, 200);
                    removal.add(r);
                    back.add(b);
                    System.out.printf("round %d: first failed check -> gone from every host %.1f ms; first passing check -> back %.1f ms%n",
                            i, r / 1e6, b / 1e6);
                }
            } finally {
                probes.forEach(FleetBench.Probe::close);
            }
        }
        System.out.printf("%nhealth removal (3 hosts, http:/health every %d ms, fall %d, rise 1; %d rounds), to tasks.web on the last host:%n"
                + "  first failed check -> removed:  %s%n  first passing check -> back:   %s%n", interval, fall, removal.size(),
                FleetBench.stats(removal), FleetBench.stats(back));
    }

    interface Action {
        void run() throws Exception;
    }

    /** Watch for the address to become {@code want} on every host, act, then: the last host's time minus the first check answering {@code status} after the act. */
    static long flip(List<FleetBench.Probe> probes, String want, String address, Action act, Path log, int status) throws Exception {
        for (FleetBench.Probe p : probes) {
            p.send("watch " + want + " " + address);
        }
        for (FleetBench.Probe p : probes) {
            p.expect("watching");
        }
        long t0 = System.nanoTime();
        act.run();
        long last = FleetBench.lastSeen(probes, 35);
        long first = -1;
        for (String line : Sh.tail(log, 2_000_000).split("\n")) {
            String[] w = line.trim().split(" ");
            if (w.length == 3 && w[0].equals("check") && w[1].matches("\\d+") && Long.parseLong(w[1]) >= t0 && w[2].equals(String.valueOf(status))) {
                first = Long.parseLong(w[1]);
                break;
            }
        }
        if (first < 0) {
            throw new IllegalStateException("no check answered " + status + " after the flip in " + log);
        }
        return last - first;
    }
}
