package io.portolan.agent.fleetsim;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.portolan.proto.Extras;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The fleet simulation (bench/fleetsim/run.sh): N simulated agents ({@link SimWorker}, several JVMs)
 * against a 3-member etcd on loopback ({@link SimCluster}), a writer registering and deregistering
 * instances straight to etcd, and a prober timing etcd's own puts (a key outside the agents' prefix,
 * one at a time, every 100 ms) from start to end. Phases, each bounded in time:
 * <ol>
 * <li>idle: what each agent costs etcd (connections, watch streams, watchers, gRPC messages per second,
 *     etcd's CPU), read from etcd's /metrics and the socket table, minus the same before the agents came;
 * <li>steady writes at 20/s, then a burst at 200/s: registration (the writer's put sent) to the
 *     snapshot of every agent, p50/p99/max;
 * <li>a compaction while every agent is connected: re-lists counted (goal 0);
 * <li>the first member (a third of the agents talk to it) restarted, then the leader moved: re-lists counted (goal 0);
 * <li>the offline group (agents behind relays) cut off, a compaction, back: their re-lists per second.
 * </ol>
 * Args: agents workers offline steady-seconds burst-seconds background-instances. System properties:
 * {@code fleetsim.etcdFlags} (extra etcd flags, space-separated), {@code fleetsim.workerOpts} (JVM
 * options of each worker), {@code fleetsim.eventLoops} (Vert.x event loops per worker, default 2),
 * {@code fleetsim.rampPerSecond} (agents started per second, default 20), {@code fleetsim.announce=false}
 * (no node leases: what the rest costs), {@code fleetsim.idleOnly=true} (stop after the idle figures).
 */
public final class FleetSim {
    static final String PROBE_KEY = "/fleetsim-probe/k";
    static final double SEC = 1e9;
    /** Agents started per second, over all workers (hosts come up over time; all at once would measure a stampede). */
    static final int RAMP_PER_SECOND = Integer.getInteger("fleetsim.rampPerSecond", 20);

    /** One write of the writer: when it was sent, the revision etcd gave it, its phase. */
    record Write(long sentNanos, long revision, String phase) {
    }

    /** One probe: when, how long, in which phase. */
    record Probe(long atNanos, long micros, String phase) {
    }

    private final SimCluster cluster;
    private final Client writer;
    private final Client prober;
    private final List<Worker> workers = new ArrayList<>();
    private final ConcurrentLinkedQueue<Write> writes = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Probe> probes = new ConcurrentLinkedQueue<>();
    private final AtomicInteger failedWrites = new AtomicInteger();
    private final AtomicInteger failedProbes = new AtomicInteger();
    private final AtomicLong seq = new AtomicLong();
    private final ScheduledExecutorService timer = Executors.newScheduledThreadPool(2);
    private volatile String phase = "start";
    private volatile boolean probing = true;
    private final Path dir;
    private final StringBuilder report = new StringBuilder();
    /** etcd's CPU (cores) and gRPC rates with the prober alone, before the agents came. */
    private double baseCpu;
    private Map<String, Double> baseRates = Map.of();

    FleetSim(Path dir, SimCluster cluster) {
        this.dir = dir;
        this.cluster = cluster;
        String eps = String.join(",", cluster.endpoints().stream().map(Object::toString).toList());
        this.writer = Client.builder().endpoints(eps.split(",")).build();
        this.prober = Client.builder().endpoints(eps.split(",")).build();
    }

    /** A worker JVM and its line protocol. */
    static final class Worker {
        final int index;
        final int agents;
        final int offline;
        final Process process;
        final PrintWriter in;
        final LinkedBlockingQueue<String> answers = new LinkedBlockingQueue<>();

        Worker(int index, int first, int agents, int offline, String endpoints, Path log, long rampMillis) throws IOException {
            this.index = index;
            this.agents = agents;
            this.offline = offline;
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.add("-Dfleetsim.announce=" + System.getProperty("fleetsim.announce", "true"));
            String opts = System.getProperty("fleetsim.workerOpts", "-Xmx3g -Xss512k");
            cmd.addAll(Arrays.asList(opts.trim().split("\\s+")));
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), SimWorker.class.getName(), String.valueOf(index),
                    String.valueOf(first), String.valueOf(agents), String.valueOf(offline), endpoints,
                    System.getProperty("fleetsim.eventLoops", "2"), String.valueOf(rampMillis)));
            process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            in = new PrintWriter(new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8), true);
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    String l;
                    while ((l = r.readLine()) != null) {
                        if (l.startsWith("@sim ")) {
                            answers.add(l.substring(5));
                        }
                    }
                } catch (IOException ignored) {
                    // exited
                }
            }, "worker-" + index);
            reader.setDaemon(true);
            reader.start();
        }

        String await(long seconds) throws InterruptedException {
            String a = answers.poll(seconds, TimeUnit.SECONDS);
            if (a == null) {
                throw new IllegalStateException("worker " + index + " did not answer within " + seconds + " s (alive: "
                        + process.isAlive() + ")");
            }
            return a;
        }

        String ask(String command, long seconds) throws InterruptedException {
            in.println(command);
            return await(seconds);
        }
    }

    public static void main(String[] args) throws Exception {
        int agents = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        int workerCount = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        int offline = args.length > 2 ? Integer.parseInt(args[2]) : agents / 5;
        int steady = args.length > 3 ? Integer.parseInt(args[3]) : 30;
        int burst = args.length > 4 ? Integer.parseInt(args[4]) : 10;
        int background = args.length > 5 ? Integer.parseInt(args[5]) : 200;
        List<String> etcdFlags = new ArrayList<>();
        String extra = System.getProperty("fleetsim.etcdFlags", "").trim();
        if (!extra.isEmpty()) {
            etcdFlags.addAll(Arrays.asList(extra.split("\\s+")));
        }
        Path dir = Files.createTempDirectory("fleetsim-" + ProcessHandle.current().pid() + "-");
        long t0 = System.nanoTime();
        try (SimCluster cluster = new SimCluster(dir, 3, etcdFlags)) {
            FleetSim sim = new FleetSim(dir, cluster);
            try {
                sim.run(agents, workerCount, offline, steady, burst, background, etcdFlags);
            } finally {
                sim.close();
            }
        } finally {
            System.out.printf(Locale.ROOT, "fleetsim: %.0f s in all; logs and dumps in %s%n", (System.nanoTime() - t0) / SEC, dir);
        }
    }

    void run(int agents, int workerCount, int offline, int steady, int burst, int background, List<String> etcdFlags) throws Exception {
        say("fleetsim: %d agents in %d JVMs (%d of them behind relays for the offline phase), 3 etcd members %s%s", agents, workerCount,
                offline, cluster.endpoints(), etcdFlags.isEmpty() ? "" : " with " + etcdFlags);
        say("machine: %d cores, load average %s (other work on the machine shares these cores)",
                Runtime.getRuntime().availableProcessors(), loadAverage());
        seed(background);
        Thread probeThread = new Thread(this::probeLoop, "prober");
        probeThread.setDaemon(true);
        probeThread.start();

        Thread.sleep(2_000);
        Snapshot before0 = snapshotEtcd();
        Thread.sleep(10_000);
        Snapshot before = snapshotEtcd(); // etcd with the prober only: its CPU per second is the baseline
        baseCpu = (before.cpu() - before0.cpu()) / ((before.nanos() - before0.nanos()) / SEC);
        baseRates = rates(before0, before);

        String eps = String.join(",", cluster.endpoints().stream().map(Object::toString).toList());
        long tStart = System.nanoTime();
        int per = agents / workerCount;
        int first = 0;
        for (int w = 0; w < workerCount; w++) {
            int n = w == workerCount - 1 ? agents - first : per;
            int off = w == workerCount - 1 ? offline : 0; // the offline group is the last worker's last agents
            workers.add(new Worker(w, first, n, Math.min(off, n), eps, dir.resolve("worker-" + w + ".log"),
                    Math.round(1000.0 * workerCount / RAMP_PER_SECOND)));
            first += n;
        }
        for (Worker w : workers) {
            String a = w.await(300 + agents / RAMP_PER_SECOND);
            if (!a.startsWith("ready")) {
                throw new IllegalStateException("worker " + w.index + ": " + a);
            }
        }
        say("started: every agent listed and announced its node in %.1f s", (System.nanoTime() - tStart) / SEC);

        // ---- idle ----
        phase = "idle";
        Thread.sleep(10_000); // start-up traffic over
        Snapshot idle0 = snapshotEtcd();
        double[] cpu0 = workerCpu();
        long i0 = System.nanoTime();
        Thread.sleep(30_000);
        Snapshot idle1 = snapshotEtcd();
        double[] cpu1 = workerCpu();
        double idleSec = (System.nanoTime() - i0) / SEC;
        reportIdle(agents, before, idle0, idle1, idleSec, cpu0, cpu1);
        String base = status();
        if (Boolean.getBoolean("fleetsim.idleOnly")) {
            for (Worker w : workers) {
                say("worker %d: %s", w.index, w.ask("mem", 60));
            }
            return;
        }

        // ---- steady, burst ----
        phase = "steady";
        double[] cpuA = cpuNow();
        writeAt(20, steady);
        double[] cpuB = cpuNow();
        phase = "burst";
        writeAt(200, burst);
        double[] cpuC = cpuNow();
        phase = "settle";
        long lastRev = 0;
        Thread.sleep(1_000); // writes in flight answered
        for (Write w : writes) {
            lastRev = Math.max(lastRev, w.revision());
        }
        long s0 = System.nanoTime();
        long settleBy = s0 + TimeUnit.SECONDS.toNanos(240);
        while (field(status(), "minrev") < lastRev && System.nanoTime() < settleBy) {
            Thread.sleep(500);
        }
        double[] cpuD = cpuNow();
        say("every agent at revision %d (the last write) %.1f s after the burst ended: %s", lastRev, (System.nanoTime() - s0) / SEC + 1,
                status());
        say("CPU in cores (etcd's 3 members / the worker JVMs): steady %s, burst %s, catching up after the burst %s",
                cores(cpuA, cpuB), cores(cpuB, cpuC), cores(cpuC, cpuD));
        Thread.sleep(2_000);

        // ---- compaction while connected ----
        String c0 = status();
        phase = "compaction";
        long rev = writer.getKVClient().get(ByteSequence.from(PROBE_KEY, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS)
                .getHeader().getRevision();
        compact(rev);
        writeAt(20, 10);
        Thread.sleep(3_000);
        String c1 = status();
        say("compaction at revision %d while every agent is connected: %s", rev, delta(c0, c1));

        // ---- member restart ----
        String r0 = status();
        phase = "restart";
        int watchMember = 0; // each agent starts at a random member (--etcd-start random): about a third talk to this one
        ScheduledFuture<?> during = startWrites(20);
        cluster.stop(watchMember);
        long down = System.nanoTime();
        Thread.sleep(5_000);
        cluster.start(watchMember);
        say("member %s stopped (SIGTERM) for %.1f s and started again", cluster.members().get(watchMember).name(),
                (System.nanoTime() - down) / SEC);
        Thread.sleep(15_000);
        during.cancel(false);
        String r1 = status();
        say("restart of the first member (the agents on it moved): %s", delta(r0, r1));

        // ---- leader change ----
        String l0 = status();
        phase = "leader";
        int leader = cluster.leader();
        int to = (leader + 1) % 3;
        during = startWrites(20);
        Thread.sleep(2_000);
        cluster.moveLeader(to);
        say("leader moved from %s to %s (etcdctl move-leader); now %s leads", cluster.members().get(leader).name(),
                cluster.members().get(to).name(), cluster.members().get(cluster.leader()).name());
        Thread.sleep(10_000);
        during.cancel(false);
        String l1 = status();
        say("leader change: %s", delta(l0, l1));

        // ---- offline past a compaction ----
        Worker last = workers.get(workers.size() - 1);
        long offStart = 0;
        if (last.offline > 0) {
            phase = "offline";
            say("offline group: %s", last.ask("cut", 30));
            Thread.sleep(4_000); // their watches notice (a failed stream) and start retrying
            writeAt(20, 5);
            rev = writer.getKVClient().get(ByteSequence.from(PROBE_KEY, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS)
                    .getHeader().getRevision();
            compact(rev);
            String o0 = last.ask("status", 30);
            phase = "relist";
            offStart = System.nanoTime();
            say("compacted at revision %d; offline group back: %s", rev, last.ask("restore", 30));
            during = startWrites(20);
            long deadline = offStart + TimeUnit.SECONDS.toNanos(130);
            while (System.nanoTime() < deadline) {
                Thread.sleep(2_000);
                String s = last.ask("status", 30);
                if (field(s, "compactions") - field(o0, "compactions") >= last.offline
                        && field(s, "listings") - field(o0, "listings") >= last.offline) {
                    break;
                }
            }
            during.cancel(false);
            Thread.sleep(2_000);
            say("offline group after %.0f s: %s", (System.nanoTime() - offStart) / SEC, delta(o0, last.ask("status", 30)));
        }
        phase = "end";
        probing = false;
        probeThread.join(5_000);

        // ---- memory, dumps ----
        for (Worker w : workers) {
            say("worker %d: %s", w.index, w.ask("mem", 60));
        }
        Map<Integer, long[][]> snaps = new HashMap<>();
        Map<Integer, long[]> relists = new HashMap<>();
        for (Worker w : workers) {
            Path f = dir.resolve("dump-" + w.index + ".txt");
            w.ask("dump " + f, 120);
            readDump(f, snaps, relists);
        }
        reportConvergence(snaps, last, agents);
        reportProbes();
        if (offStart != 0) {
            reportRelists(relists, offStart, agents);
        }
        say("base status at idle: %s", base);
        say("load average at the end: %s", loadAverage());
    }

    // ---- etcd side ----------------------------------------------------------------------

    /** Sums over the members of what etcd exports, its CPU, and the connections to its client ports. */
    record Snapshot(long nanos, Map<String, Double> metrics, double cpu, int connections, int[] perMember, double[] watchersPerMember) {
    }

    Snapshot snapshotEtcd() throws IOException, InterruptedException {
        Map<String, Double> sum = new TreeMap<>();
        double cpu = 0;
        int conns = 0;
        int[] per = new int[3];
        double[] watchers = new double[3];
        for (int i = 0; i < 3; i++) {
            Map<String, Double> m = cluster.metrics(i);
            m.forEach((k, v) -> sum.merge(k, v, Double::sum));
            watchers[i] = m.getOrDefault("etcd_debugging_mvcc_watcher_total", 0.0);
            cpu += cluster.cpuSeconds(i);
            per[i] = cluster.clientConnections(i);
            conns += per[i];
        }
        return new Snapshot(System.nanoTime(), sum, cpu, conns, per, watchers);
    }

    void reportIdle(int agents, Snapshot before, Snapshot a, Snapshot b, double sec, double[] cpu0, double[] cpu1) {
        say("");
        say("== idle: what each agent costs etcd (%d agents, %.0f s; minus etcd before the agents came) ==", agents, sec);
        say("connections to etcd's client ports: %d (before the agents: %d) -> %.2f per agent; per member %s",
                b.connections(), before.connections(), (b.connections() - before.connections()) / (double) agents,
                Arrays.toString(b.perMember()));
        double streams = b.metrics().getOrDefault("etcd_debugging_mvcc_watch_stream_total", 0.0)
                - before.metrics().getOrDefault("etcd_debugging_mvcc_watch_stream_total", 0.0);
        double watchers = b.metrics().getOrDefault("etcd_debugging_mvcc_watcher_total", 0.0)
                - before.metrics().getOrDefault("etcd_debugging_mvcc_watcher_total", 0.0);
        say("watch streams %.0f -> %.2f per agent; watchers %.0f -> %.2f per agent; watchers per member %s", streams, streams / agents,
                watchers, watchers / agents, Arrays.toString(b.watchersPerMember()));
        Map<String, Double> rates = rates(a, b);
        say("gRPC on etcd's side, per second (all members; minus the same before the agents: the prober's 10 puts/s):");
        rates.forEach((k, r) -> {
            double own = r - baseRates.getOrDefault(k, 0.0);
            say("  %-100s %8.1f/s  %.3f/s per agent", k.replace("grpc_service=", "").replace("grpc_", ""), own, own / agents);
        });
        double etcdCpu = (b.cpu() - a.cpu()) / sec;
        say("etcd CPU (3 members): %.1f %% of one core, %.1f %% before the agents -> %.4f %% of a core per agent", etcdCpu * 100,
                baseCpu * 100, (etcdCpu - baseCpu) * 100 / agents);
        double w = 0;
        for (int i = 0; i < cpu0.length; i++) {
            w += cpu1[i] - cpu0[i];
        }
        say("agents' CPU (all worker JVMs): %.1f %% of one core -> %.3f %% per agent", w / sec * 100, w / sec * 100 / agents);
        for (int i = 0; i < 3; i++) {
            say("member %s: RSS %.0f MiB", cluster.members().get(i).name(), cluster.rssMiB(i));
        }
        say("");
    }

    /** {now nanos, etcd CPU seconds, workers' CPU seconds}. */
    double[] cpuNow() throws InterruptedException {
        double etcd = 0;
        for (int i = 0; i < 3; i++) {
            etcd += cluster.cpuSeconds(i);
        }
        double w = 0;
        for (double c : workerCpu()) {
            w += c;
        }
        return new double[] {System.nanoTime(), etcd, w};
    }

    static String cores(double[] a, double[] b) {
        double sec = (b[0] - a[0]) / SEC;
        return String.format(Locale.ROOT, "%.2f / %.2f", (b[1] - a[1]) / sec, (b[2] - a[2]) / sec);
    }

    static Map<String, Double> rates(Snapshot a, Snapshot b) {
        double sec = (b.nanos() - a.nanos()) / SEC;
        Map<String, Double> rates = new TreeMap<>();
        for (Map.Entry<String, Double> e : b.metrics().entrySet()) {
            String k = e.getKey();
            if (k.startsWith("grpc_server_started_total") || k.startsWith("grpc_server_msg_received_total")
                    || k.startsWith("grpc_server_msg_sent_total")) {
                double d = e.getValue() - a.metrics().getOrDefault(k, 0.0);
                if (d > 0) {
                    rates.put(k, d / sec);
                }
            }
        }
        return rates;
    }

    double[] workerCpu() throws InterruptedException {
        double[] c = new double[workers.size()];
        for (Worker w : workers) {
            c[w.index] = Double.parseDouble(w.ask("cpu", 30).split(" ")[1]);
        }
        return c;
    }

    String status() throws InterruptedException {
        Map<String, Double> sum = new TreeMap<>();
        for (Worker w : workers) {
            for (String kv : w.ask("status", 30).substring("status ".length()).split(" ")) {
                String[] p = kv.split("=");
                sum.merge(p[0], Double.parseDouble(p[1]), p[0].equals("minrev") ? Math::min : Double::sum);
            }
        }
        StringBuilder b = new StringBuilder();
        sum.forEach((k, v) -> b.append(k).append('=').append(String.format(Locale.ROOT, "%.0f", v)).append(' '));
        return b.toString().trim();
    }

    static double field(String status, String name) {
        for (String kv : status.replace("status ", "").split(" ")) {
            String[] p = kv.split("=");
            if (p[0].equals(name)) {
                return Double.parseDouble(p[1]);
            }
        }
        return 0;
    }

    static String delta(String a, String b) {
        return String.format(Locale.ROOT, "re-lists %.0f, watch compactions %.0f, watch restarts %.0f, silences %.0f (loaded %.0f)",
                field(b, "relists") - field(a, "relists"), field(b, "compactions") - field(a, "compactions"),
                field(b, "restarts") - field(a, "restarts"), field(b, "silences") - field(a, "silences"), field(b, "loaded"));
    }

    // ---- writer and prober --------------------------------------------------------------

    void seed(int background) throws Exception {
        put("/portolan/services/sim", JsonCodec.encode(new Service("sim", Mode.DNSRR, List.of(new Port("http", 8080, Protocol.TCP)),
                null, null, null, null)));
        for (int s = 0; s < Math.max(1, background / 10); s++) {
            put("/portolan/services/bg" + s, JsonCodec.encode(new Service("bg" + s, Mode.DNSRR,
                    List.of(new Port("http", 8080, Protocol.TCP)), null, null, null, null)));
        }
        for (int i = 0; i < background; i++) {
            put("/portolan/instances/bg" + (i / 10) + "/i" + i, instance("bg" + (i / 10), "i" + i, i));
        }
    }

    private void put(String key, byte[] value) throws Exception {
        writer.getKVClient().put(ByteSequence.from(key, StandardCharsets.UTF_8), ByteSequence.from(value)).get(10, TimeUnit.SECONDS);
    }

    static byte[] instance(String service, String id, long n) throws IOException {
        return JsonCodec.encode(new Instance(id, service, "sim-node", InetAddress.getByAddress(new byte[] {10, 1, (byte) (n / 250 % 250),
                (byte) (n % 250 + 1)}), List.of(new Port("http", 8080, Protocol.TCP)), 100, Health.HEALTHY, Map.of(), Instant.now(),
                Extras.NONE));
    }

    /** Writes at {@code rate}/s for {@code seconds} s, then returns (writes still in flight finish on their own). */
    void writeAt(int rate, int seconds) throws InterruptedException {
        ScheduledFuture<?> f = startWrites(rate);
        Thread.sleep(seconds * 1000L);
        f.cancel(false);
    }

    /**
     * Every 1/rate s one write, not waiting for the previous: a registration of a new instance of
     * {@code sim}, or (every other write) the deregistration of the one registered 50 writes before.
     */
    ScheduledFuture<?> startWrites(int rate) {
        long period = 1_000_000 / rate;
        String p = phase;
        return timer.scheduleAtFixedRate(() -> {
            long n = seq.getAndIncrement();
            long sent = System.nanoTime();
            java.util.concurrent.CompletableFuture<Long> done;
            try {
                if (n % 2 == 1 && n > 100) {
                    long victim = n - 101; // an even one, registered 50 writes earlier
                    done = writer.getKVClient().delete(ByteSequence.from("/portolan/instances/sim/w" + victim, StandardCharsets.UTF_8))
                            .thenApply(r -> r.getHeader().getRevision());
                } else {
                    done = writer.getKVClient().put(ByteSequence.from("/portolan/instances/sim/w" + n, StandardCharsets.UTF_8),
                            ByteSequence.from(instance("sim", "w" + n, n))).thenApply(r -> r.getHeader().getRevision());
                }
            } catch (IOException e) {
                failedWrites.incrementAndGet();
                return;
            }
            done.whenComplete((rev, t) -> {
                if (t != null) {
                    failedWrites.incrementAndGet();
                } else {
                    writes.add(new Write(sent, rev, p));
                }
            });
        }, 0, period, TimeUnit.MICROSECONDS);
    }

    void probeLoop() {
        long n = 0;
        while (probing) {
            long t0 = System.nanoTime();
            try {
                prober.getKVClient().put(ByteSequence.from(PROBE_KEY, StandardCharsets.UTF_8),
                        ByteSequence.from(Long.toString(n++), StandardCharsets.UTF_8)).get(5, TimeUnit.SECONDS);
                probes.add(new Probe(t0, (System.nanoTime() - t0) / 1000, phase));
            } catch (Exception e) {
                failedProbes.incrementAndGet();
                probes.add(new Probe(t0, (System.nanoTime() - t0) / 1000, phase + "-failed"));
            }
            long left = 100 - (System.nanoTime() - t0) / 1_000_000;
            if (left > 0) {
                try {
                    Thread.sleep(left);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    // ---- figures ------------------------------------------------------------------------

    static void readDump(Path f, Map<Integer, long[][]> snaps, Map<Integer, long[]> relists) throws IOException {
        for (String line : Files.readAllLines(f)) {
            String[] p = line.split(" ");
            int idx = Integer.parseInt(p[1]);
            if (p[0].equals("snap")) {
                long[] revs = new long[p.length - 2];
                long[] times = new long[p.length - 2];
                for (int i = 2; i < p.length; i++) {
                    int c = p[i].indexOf(':');
                    revs[i - 2] = Long.parseLong(p[i].substring(0, c));
                    times[i - 2] = Long.parseLong(p[i].substring(c + 1));
                }
                snaps.put(idx, new long[][] {revs, times});
            } else {
                long[] t = new long[p.length - 2];
                for (int i = 2; i < p.length; i++) {
                    t[i - 2] = Long.parseLong(p[i]);
                }
                relists.put(idx, t);
            }
        }
    }

    void reportConvergence(Map<Integer, long[][]> snaps, Worker last, int agents) {
        int offlineFrom = agents - last.offline;
        say("");
        say("== registration (the writer's put sent) -> snapshot published, in ms ==");
        say("%-12s %7s %8s | %-32s | %-32s | %s", "phase", "writes", "rate", "every agent (per write: the last agent)",
                "each agent (all write x agent pairs)", "not seen");
        Map<String, List<Write>> byPhase = new TreeMap<>();
        for (Write w : writes) {
            byPhase.computeIfAbsent(w.phase(), k -> new ArrayList<>()).add(w);
        }
        for (String ph : List.of("steady", "burst", "compaction", "restart", "leader", "offline", "relist")) {
            List<Write> ws = byPhase.get(ph);
            if (ws == null) {
                continue;
            }
            ws.sort((x, y) -> Long.compare(x.sentNanos(), y.sentNanos()));
            double span = (ws.get(ws.size() - 1).sentNanos() - ws.get(0).sentNanos()) / SEC;
            long[] lastAgent = new long[ws.size()];
            long[] pairs = new long[ws.size() * snaps.size()];
            int np = 0;
            int missing = 0;
            for (int i = 0; i < ws.size(); i++) {
                Write w = ws.get(i);
                long worst = 0;
                for (Map.Entry<Integer, long[][]> e : snaps.entrySet()) {
                    if (e.getKey() >= offlineFrom && (ph.equals("offline") || ph.equals("relist"))) {
                        continue; // the offline group is not expected to follow while it is cut off or re-listing
                    }
                    long seen = firstAtOrAfter(e.getValue(), w.revision());
                    if (seen < 0) {
                        missing++;
                        continue;
                    }
                    long d = Math.max(0, seen - w.sentNanos());
                    pairs[np++] = d;
                    worst = Math.max(worst, d);
                }
                lastAgent[i] = worst;
            }
            Arrays.sort(lastAgent);
            long[] p = Arrays.copyOf(pairs, np);
            Arrays.sort(p);
            say("%-12s %7d %6.0f/s | %-32s | %-32s | %d", ph, ws.size(), ws.size() / Math.max(span, 1e-9), pct(lastAgent), pct(p), missing);
        }
        say("failed writes: %d", failedWrites.get());
    }

    static long firstAtOrAfter(long[][] snap, long revision) {
        long[] revs = snap[0];
        int lo = 0;
        int hi = revs.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (revs[mid] < revision) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo < revs.length ? snap[1][lo] : -1;
    }

    static String pct(long[] sortedNanos) {
        if (sortedNanos.length == 0) {
            return "-";
        }
        return String.format(Locale.ROOT, "p50 %6.1f p99 %7.1f max %7.1f", sortedNanos[sortedNanos.length / 2] / 1e6,
                sortedNanos[Math.min(sortedNanos.length - 1, (int) (sortedNanos.length * 0.99))] / 1e6,
                sortedNanos[sortedNanos.length - 1] / 1e6);
    }

    void reportProbes() {
        say("");
        say("== etcd's own put latency (prober: one put at a time, every 100 ms, a key outside the agents' prefix), in ms ==");
        Map<String, List<Long>> byPhase = new TreeMap<>();
        List<Long> all = new ArrayList<>();
        for (Probe p : probes) {
            byPhase.computeIfAbsent(p.phase(), k -> new ArrayList<>()).add(p.micros() * 1000);
            all.add(p.micros() * 1000);
        }
        byPhase.put("(all)", all);
        byPhase.forEach((ph, l) -> {
            long[] a = l.stream().mapToLong(Long::longValue).sorted().toArray();
            say("%-18s %6d puts  %s", ph, a.length, pct(a));
        });
        say("failed probes: %d", failedProbes.get());
    }

    void reportRelists(Map<Integer, long[]> relists, long offStart, int agents) {
        TreeMap<Long, Integer> perSecond = new TreeMap<>();
        int total = 0;
        for (long[] ts : relists.values()) {
            for (long t : ts) {
                if (t >= offStart) {
                    perSecond.merge((t - offStart) / 1_000_000_000L, 1, Integer::sum);
                    total++;
                }
            }
        }
        int max = perSecond.values().stream().mapToInt(Integer::intValue).max().orElse(0);
        say("");
        say("== offline group back past a compaction: %d re-lists over %d s after the return (last in second %d); at most %d in one"
                + " second = %.2f %% of the %d agents ==", total, perSecond.isEmpty() ? 0 : perSecond.lastKey() + 1,
                perSecond.isEmpty() ? -1 : perSecond.lastKey(), max, 100.0 * max / agents, agents);
        StringBuilder b = new StringBuilder("re-lists per second:");
        perSecond.forEach((s, n) -> b.append(' ').append(s).append(':').append(n));
        say("%s", b);
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "?";
        }
    }

    /** Compacts etcd at {@code rev}, waiting for the backend. */
    void compact(long rev) throws Exception {
        try {
            writer.getKVClient().compact(rev, io.etcd.jetcd.options.CompactOption.builder().withCompactPhysical(true).build())
                    .get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            // jetcd tries a call again when its answer is slow or lost (a loaded etcd): the first try compacted
            if (!String.valueOf(e.getCause()).contains("required revision has been compacted")) {
                throw e;
            }
            say("compaction at %d: already done (jetcd's retry of a compaction whose answer came late)", rev);
        }
    }

    void say(String fmt, Object... args) {
        String s = String.format(Locale.ROOT, "%s %s", java.time.LocalTime.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS),
                String.format(Locale.ROOT, fmt, args));
        System.out.println(s);
        System.out.flush();
        report.append(s).append('\n');
    }

    void close() throws InterruptedException {
        probing = false;
        for (Worker w : workers) {
            try {
                w.in.println("quit");
                if (!w.process.waitFor(30, TimeUnit.SECONDS)) {
                    w.process.destroyForcibly();
                }
            } catch (RuntimeException e) {
                w.process.destroyForcibly();
            }
        }
        timer.shutdownNow();
        writer.close();
        prober.close();
        try {
            Files.writeString(dir.resolve("report.txt"), report.toString());
        } catch (IOException ignored) {
            // the report went to stdout as well
        }
    }
}
