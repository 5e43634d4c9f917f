package io.portolan.agent.bench;

import io.etcd.jetcd.Client;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;

import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Agent memory holding S services x I instances: loads etcd, starts the real agent jar against it,
 * waits until its snapshot holds everything, forces a GC, and prints RSS and heap used. The agent runs
 * through the launcher ({@code deploy/bin/portolan}, or {@code -Dmembench.launcher}) with the JVM
 * options it gives an agent; {@code -Dmembench.jvm} adds to them.
 * Usage: MemoryBench JAR [services] [instances-per-service]
 */
public final class MemoryBench {
    public static void main(String[] args) throws Exception {
        String jar = args[0];
        int services = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
        int per = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        try (EtcdServer etcd = new EtcdServer(); Client c = EtcdClients.client(etcd.endpoint())) {
            long t0 = System.nanoTime();
            Semaphore inFlight = new Semaphore(256);
            List<CompletableFuture<?>> all = new ArrayList<>();
            for (int s = 0; s < services; s++) {
                String name = "svc-" + s;
                Service svc = new Service(name, Mode.VIP, List.of(new Port("http", 80, Protocol.TCP)),
                        InetAddress.getByAddress(new byte[] {10, 99, (byte) (s >> 8), (byte) s}), null, null, null);
                inFlight.acquire();
                all.add(c.getKVClient().put(EtcdClients.bs("/portolan/services/" + name), EtcdClients.bs(JsonCodec.encode(svc)))
                        .whenComplete((r, t) -> inFlight.release()));
                for (int i = 0; i < per; i++) {
                    inFlight.acquire();
                    all.add(c.getKVClient().put(EtcdClients.bs("/portolan/instances/" + name + "/i-" + i),
                            EtcdClients.bs(ConvergenceBench.instance(name, "i-" + i, s * per + i))).whenComplete((r, t) -> inFlight.release()));
                }
            }
            CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).get(600, TimeUnit.SECONDS);
            System.out.printf("loaded %d services x %d instances into etcd in %.1f s%n", services, per, (System.nanoTime() - t0) / 1e9);

            int admin = EtcdServer.freePort();
            Path state = Files.createTempDirectory("membench");
            // Through the launcher, as systemd runs it: its JVM options (heap cap, collector) are measured too.
            List<String> cmd = new ArrayList<>(List.of(System.getProperty("membench.launcher", "deploy/bin/portolan"),
                    "agent", "--etcd-endpoints", etcd.endpoint().toString(),
                    "--admin-listen", "127.0.0.1:" + admin, "--state-dir", state.toString(), "--log-level", "warn",
                    "--dns-listen", "127.0.0.1:" + EtcdServer.freePort()));
            cmd.addAll(words(System.getProperty("membench.agent", "--dataplane none")));
            String javaOpts = ("-XX:NativeMemoryTracking=summary " + System.getProperty("membench.jvm", "")).trim();
            System.out.println("agent: PORTOLAN_JAR=" + jar + " PORTOLAN_JAVA_OPTS='" + javaOpts + "' " + String.join(" ", cmd));
            ProcessBuilder pb = new ProcessBuilder(cmd).inheritIO();
            pb.environment().put("PORTOLAN_JAR", jar);
            pb.environment().put("PORTOLAN_JAVA_OPTS", javaOpts);
            Process agent = pb.start();
            try {
                HttpClient http = HttpClient.newHttpClient();
                long t1 = System.nanoTime();
                Pattern p = Pattern.compile("(?m)^portolan_snapshot_instances(?:\\{[^}]*\\})? ([0-9.eE+]+)");
                while (true) {
                    try {
                        String m = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin + "/metrics")).build(),
                                HttpResponse.BodyHandlers.ofString()).body();
                        Matcher mm = p.matcher(m);
                        if (mm.find() && Double.parseDouble(mm.group(1)) >= services * (double) per) {
                            break;
                        }
                    } catch (java.io.IOException notYet) {
                        // agent still starting
                    }
                    if (System.nanoTime() - t1 > TimeUnit.SECONDS.toNanos(300)) {
                        throw new IllegalStateException("agent did not load everything in 300 s");
                    }
                    Thread.sleep(100);
                }
                System.out.printf("agent start -> snapshot with %d instances: %.1f s%n", services * per, (System.nanoTime() - t1) / 1e9);
                String pid = Long.toString(agent.pid());
                // The data plane syncs after the snapshot is published: measure once the agent is idle
                // (under 5 % of a core for 3 s running, at most 120 s).
                long idleSince = System.nanoTime();
                long cpu = cpuTicks(pid);
                long waitUntil = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (System.nanoTime() - idleSince < TimeUnit.SECONDS.toNanos(3) && System.nanoTime() < waitUntil) {
                    Thread.sleep(1000);
                    long now = cpuTicks(pid);
                    if (now - cpu > 5) { // clock ticks are 10 ms: 5 ticks in a second is 5 % of a core
                        idleSince = System.nanoTime();
                    }
                    cpu = now;
                }
                System.out.printf("agent idle %.1f s after the snapshot%n", (System.nanoTime() - t1) / 1e9);
                // Settled: two of the launcher's 5 s C-heap trims, the start-up's garbage collected as it goes.
                Thread.sleep(TimeUnit.SECONDS.toMillis(Long.getLong("membench.settle", 15)));
                System.out.printf("agent RSS settled (idle + %d s), before a forced GC: %.0f MiB%n",
                        Long.getLong("membench.settle", 15), rssKib(pid) / 1024.0);
                run("jcmd", pid, "GC.run");
                Thread.sleep(500);
                String heap = run("jcmd", pid, "GC.heap_info");
                // G1: "garbage-first heap ... used N"; Serial, Parallel: one line per generation.
                Matcher used = Pattern.compile("(?m)^\\s*(?:garbage-first heap|def new generation|tenured generation|PSYoungGen|ParOldGen)"
                        + "\\s.*?used (\\d+)K").matcher(heap);
                long usedK = 0;
                while (used.find()) {
                    usedK += Long.parseLong(used.group(1));
                }
                String status = Files.readString(Path.of("/proc/" + pid + "/status"));
                Matcher rss = Pattern.compile("VmRSS:\\s+(\\d+) kB").matcher(status);
                long rssK = rss.find() ? Long.parseLong(rss.group(1)) : -1;
                System.out.printf("agent memory with %d services x %d instances: RSS %.0f MiB, heap used after GC %.0f MiB%n",
                        services, per, rssK / 1024.0, usedK / 1024.0);
                // Where the RSS goes, by the JVM's own count (committed KB per category).
                String nmt = run("jcmd", pid, "VM.native_memory", "summary");
                Matcher cat = Pattern.compile("(?m)^-\\s+([A-Za-z ]+?) \\(reserved=\\d+KB, committed=(\\d+)KB").matcher(nmt);
                StringBuilder parts = new StringBuilder("committed by category (MiB):");
                while (cat.find()) {
                    long mib = Long.parseLong(cat.group(2)) / 1024;
                    if (mib > 0) {
                        parts.append(' ').append(cat.group(1).trim().replace(' ', '_')).append('=').append(mib);
                    }
                }
                System.out.println(parts);
                if (Boolean.getBoolean("membench.detail")) {
                    String histo = run("jcmd", pid, "GC.class_histogram");
                    histo.lines().limit(35).forEach(System.out::println);
                    System.out.println(nmt);
                }
                String dump = System.getProperty("membench.dump");
                if (dump != null) { // a heap dump of the live objects, to see who holds what
                    System.out.println(run("jcmd", pid, "GC.heap_dump", dump));
                }
            } finally {
                agent.destroy();
                agent.waitFor(20, TimeUnit.SECONDS);
            }
        }
    }

    static long rssKib(String pid) throws java.io.IOException {
        Matcher rss = Pattern.compile("VmRSS:\\s+(\\d+) kB").matcher(Files.readString(Path.of("/proc/" + pid + "/status")));
        return rss.find() ? Long.parseLong(rss.group(1)) : -1;
    }

    /** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
    static long cpuTicks(String pid) throws java.io.IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    static List<String> words(String s) {
        List<String> w = new ArrayList<>();
        for (String x : s.trim().split("\\s+")) {
            if (!x.isEmpty()) {
                w.add(x);
            }
        }
        return w;
    }

    static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor(30, TimeUnit.SECONDS);
        return out;
    }
}
