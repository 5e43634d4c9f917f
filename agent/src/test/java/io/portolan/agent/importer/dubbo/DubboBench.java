package io.portolan.agent.importer.dubbo;

import io.portolan.agent.fleet.Fleet;
import io.portolan.agent.fleet.FleetBench;
import io.portolan.agent.fleet.Sh;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * bench/dubbo: the time from a real Dubbo provider's registration to a DNS answer on every host. A 3-host fleet
 * (ROUTED, data plane none: only DNS is measured) whose agents run {@code --import dubbo}; a Dubbo provider of
 * {@code demo-provider} in a container on host 1 registers through Dubbo's own etcd3 registry (interface level), is
 * stopped (SIGTERM: Dubbo deletes its key), REGISTRATIONS times per line. The registration's moment is when its key
 * appears in etcd, as an {@code etcdctl watch --prefix /dubbo/} in host 1's namespace prints it; the DNS answer's is when
 * a probe JVM in a container on each host (FleetBench's, polling {@code tasks.demo-provider} about every millisecond)
 * sees the provider's address; the figure is the last host's. The same for the deregistration (the key's deletion to
 * the address gone from every host). All processes share CLOCK_MONOTONIC. Every loop is bounded in count and time.
 * Usage: {@code DubboBench [REGISTRATIONS=10] [LINES=V2_7,V3_2]}.
 */
public final class DubboBench {
    private DubboBench() {
    }

    static final String KEY_PREFIX = "/dubbo/io.portolan.demo.GreetingService/providers/";

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        if (n < 1 || n > 200) {
            throw new IllegalArgumentException("REGISTRATIONS 1-200");
        }
        List<DubboRuntime.Line> lines = new ArrayList<>();
        for (String l : (args.length > 1 ? args[1] : "V2_7,V3_2").split(",")) {
            lines.add(DubboRuntime.Line.valueOf(l.trim()));
        }
        List<String> out = new ArrayList<>();
        try (Fleet f = Fleet.start(Fleet.options().hosts(3).layout(Fleet.Layout.ROUTED).plane(Fleet.Plane.NONE).agentFlags("--import", "dubbo"))) {
            Fleet.Host h1 = f.host(1);
            Fleet.Container box = h1.container("prov");
            List<FleetBench.Probe> probes = new ArrayList<>();
            Process watch = null;
            try {
                for (Fleet.Host h : f.hosts()) {
                    probes.add(FleetBench.Probe.start(f, h.container("probe" + h.index), "tasks.demo-provider", 120));
                }
                watch = new ProcessBuilder("ip", "netns", "exec", h1.ns, "etcdctl", "--endpoints", "http://" + h1.underlay + ":2379",
                        "watch", "--prefix", "/dubbo/").redirectError(f.dir().resolve("etcdctl.err").toFile()).start();
                BlockingQueue<long[]> events = keyEvents(watch, box.address);
                for (DubboRuntime.Line line : lines) {
                    try (DubboRuntime dubbo = DubboRuntime.build(line)) {
                        List<Long> reg = new ArrayList<>();
                        List<Long> dereg = new ArrayList<>();
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120L * n);
                        for (int i = 0; i < n && System.nanoTime() < deadline; i++) {
                            Path log = f.dir().resolve("provider-" + line + "-" + i + ".log");
                            for (FleetBench.Probe p : probes) {
                                p.send("watch present " + box.address);
                            }
                            for (FleetBench.Probe p : probes) {
                                p.expect("watching");
                            }
                            Process provider = dubbo.provider(box, log, List.of("-Ddubbo.service.shutdown.wait=0"),
                                    "etcd3://" + h1.underlay + ":2379", "demo-provider", box.address, "dubbo:20880");
                            long put = event(events, 1, provider, log);
                            reg.add(FleetBench.lastSeen(probes, 120) - put);
                            for (FleetBench.Probe p : probes) {
                                p.send("watch absent " + box.address);
                            }
                            for (FleetBench.Probe p : probes) {
                                p.expect("watching");
                            }
                            provider.destroy();
                            long del = event(events, 0, null, log);
                            dereg.add(FleetBench.lastSeen(probes, 120) - del);
                            Sh.stop(provider, Duration.ofSeconds(30));
                            System.out.printf("%s #%d: registration -> every host's DNS %.1f ms, deregistration %.1f ms%n", line, i,
                                    reg.get(reg.size() - 1) / 1e6, dereg.get(dereg.size() - 1) / 1e6);
                        }
                        out.add(String.format("Dubbo %s, %d registrations (interface level, key put -> the address in tasks.demo-provider on all 3 hosts):%n"
                                + "  registration:   %s%n  deregistration: %s", line == DubboRuntime.Line.V2_7 ? "2.7.23" : "3.2.19", reg.size(),
                                stats(reg), stats(dereg)));
                    }
                }
            } finally {
                probes.forEach(FleetBench.Probe::close);
                if (watch != null) {
                    Sh.kill(watch);
                }
            }
        }
        System.out.println();
        out.forEach(System.out::println);
    }

    /** The etcdctl watch's PUT (1) and DELETE (0) events of the provider's key at ADDRESS:20880, with the time each line was read. */
    static BlockingQueue<long[]> keyEvents(Process watch, String address) {
        BlockingQueue<long[]> q = new ArrayBlockingQueue<>(10_000);
        String port = address + "%3A20880";
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(watch.getInputStream(), StandardCharsets.UTF_8))) {
                String kind = null;
                for (String l; (l = r.readLine()) != null; ) {
                    long now = System.nanoTime();
                    if (l.equals("PUT") || l.equals("DELETE")) {
                        kind = l;
                    } else if (kind != null) {
                        if (l.startsWith(KEY_PREFIX) && l.contains(port)) {
                            q.offer(new long[] {kind.equals("PUT") ? 1 : 0, now});
                        }
                        kind = null;   // the next line is the value (PUT) or the next event
                    }
                }
            } catch (IOException ignored) {
                // the watch ended
            }
        }, "etcdctl-watch");
        t.setDaemon(true);
        t.start();
        return q;
    }

    static long event(BlockingQueue<long[]> events, int kind, Process provider, Path log) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            long[] e = events.poll(200, TimeUnit.MILLISECONDS);
            if (e != null && e[0] == kind) {
                return e[1];
            }
            if (provider != null && !provider.isAlive()) {
                throw new IllegalStateException("the provider exited: " + Sh.tail(log, 4000));
            }
        }
        throw new IllegalStateException("no " + (kind == 1 ? "PUT" : "DELETE") + " of the provider's key in 90 s: " + Sh.tail(log, 4000));
    }


    static String stats(List<Long> nanos) {
        List<Long> s = new ArrayList<>(nanos);
        Collections.sort(s);
        return String.format("p50 %6.1f ms   p99 %6.1f ms   max %6.1f ms   (n=%d)", pct(s, 0.5) / 1e6, pct(s, 0.99) / 1e6, pct(s, 1.0) / 1e6, s.size());
    }

    static long pct(List<Long> sorted, double p) {
        return sorted.isEmpty() ? -1 : sorted.get(Math.max(0, Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1)));
    }
}
