package io.portolan.agent.fleetsim;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.agent.registry.etcd.EtcdAccess;
import io.portolan.agent.registry.etcd.EtcdRegistry;
import io.portolan.agent.testing.TcpProxy;
import io.portolan.proto.Cidr;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Node;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One JVM of the fleet simulation: {@code agents} simulated agents, each the real etcd registry
 * (its own jetcd clients and connections, {@code PrefixWatch}, its node announced under its own
 * lease), the real {@link RegistryState} and {@link SnapshotPublisher}, and a light consumer in place
 * of DNS and the data planes: it notes when each snapshot revision was published (System.nanoTime,
 * CLOCK_MONOTONIC on Linux, the same clock in every JVM of the machine). The last {@code offline}
 * agents reach etcd through relays ({@link TcpProxy}, one per member) that the coordinator can cut.
 *
 * <p>Driven by {@link FleetSim} over stdin, one command a line; each answer is one stdout line
 * starting with {@code @sim } (logs go to stderr): {@code status}, {@code cut}, {@code restore},
 * {@code mem}, {@code dump FILE}, {@code quit}.
 *
 * <p>Args: worker-index first-agent agents offline endpoints(comma-separated) event-loops ramp-ms (between two agents' starts)
 */
public final class SimWorker {
    static final String PREFIX = "/portolan/";
    /** Whether each agent announces its node under a lease, as the agent does ({@code -Dfleetsim.announce=false}: to measure the rest alone). */
    static final boolean ANNOUNCE = Boolean.parseBoolean(System.getProperty("fleetsim.announce", "true"));

    /** One simulated agent. */
    static final class SimAgent {
        final int index;
        final SimpleMeterRegistry meters = new SimpleMeterRegistry();
        final SnapshotPublisher publisher = new SnapshotPublisher();
        final RegistryState state;
        final EtcdRegistry registry;
        Registry.Lease node;
        private long[] revs = new long[256];
        private long[] times = new long[256];
        private int n;
        /** When this agent's listing count went up (sampled every 100 ms), after the first listing. */
        final List<Long> relists = new ArrayList<>();
        double lastListings;

        SimAgent(int index, List<URI> endpoints, EtcdRegistry.Clients clients) {
            this.index = index;
            KeyLayout layout = new KeyLayout(PREFIX);
            this.state = new RegistryState(layout, publisher, meters);
            this.registry = new EtcdRegistry(EtcdAccess.plain(endpoints), layout, Cidr.parse("vip-cidr", "10.216.0.0/16"),
                    Duration.ofSeconds(3), meters, clients);
            publisher.addDirectListener("sim", s -> record(s.revision(), System.nanoTime()));
        }

        synchronized void record(long rev, long nanos) {
            if (n == revs.length) {
                revs = Arrays.copyOf(revs, n * 2);
                times = Arrays.copyOf(times, n * 2);
            }
            revs[n] = rev;
            times[n] = nanos;
            n++;
        }

        double count(String name) {
            Counter c = meters.find(name).counter();
            return c == null ? 0 : c.count();
        }

        synchronized void dump(PrintWriter out) {
            StringBuilder b = new StringBuilder("snap ").append(index);
            for (int i = 0; i < n; i++) {
                b.append(' ').append(revs[i]).append(':').append(times[i]);
            }
            out.println(b);
            StringBuilder r = new StringBuilder("relist ").append(index);
            for (long t : relists) {
                r.append(' ').append(t);
            }
            out.println(r);
        }
    }

    public static void main(String[] args) throws Exception {
        int worker = Integer.parseInt(args[0]);
        int first = Integer.parseInt(args[1]);
        int count = Integer.parseInt(args[2]);
        int offline = Integer.parseInt(args[3]);
        List<URI> endpoints = Arrays.stream(args[4].split(",")).map(URI::create).toList();
        int eventLoops = Integer.parseInt(args[5]);
        long rampMillis = Long.parseLong(args[6]);

        SharedClients clients = new SharedClients(eventLoops);
        List<TcpProxy> relays = new ArrayList<>();
        List<URI> relayed = new ArrayList<>();
        if (offline > 0) {
            for (URI e : endpoints) {
                TcpProxy p = new TcpProxy(InetAddress.getByName(e.getHost()), e.getPort());
                relays.add(p);
                relayed.add(URI.create("http://127.0.0.1:" + p.port()));
            }
        }
        List<SimAgent> agents = new ArrayList<>();
        long startedAt = System.nanoTime();
        for (int i = 0; i < count; i++) {
            long due = startedAt + TimeUnit.MILLISECONDS.toNanos(i * rampMillis); // agents come up one by one, as hosts do
            long wait = due - System.nanoTime();
            if (wait > 0) {
                TimeUnit.NANOSECONDS.sleep(wait);
            }
            int idx = first + i;
            SimAgent a = new SimAgent(idx, i >= count - offline ? relayed : endpoints, clients);
            agents.add(a);
            a.registry.start(a.state);
            InetAddress addr = InetAddress.getByAddress(new byte[] {10, (byte) 200, (byte) (idx / 250), (byte) (idx % 250 + 1)});
            for (int attempt = 1; ANNOUNCE; attempt++) { // a node lease, as every agent announces itself
                try {
                    a.node = a.registry.announce(new Node(String.format("sim-%04d", idx), addr));
                    break;
                } catch (RuntimeException e) {
                    if (attempt == 20) {
                        throw e;
                    }
                    Thread.sleep(1_000);
                }
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
        while (!agents.stream().allMatch(a -> a.state.loaded())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("worker " + worker + ": not every agent loaded within 300 s");
            }
            Thread.sleep(100);
        }
        for (SimAgent a : agents) {
            a.lastListings = a.count("portolan_etcd_listings");
        }
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                long now = System.nanoTime();
                for (SimAgent a : agents) {
                    double l = a.count("portolan_etcd_listings");
                    if (l > a.lastListings) {
                        synchronized (a) {
                            a.relists.add(now);
                        }
                        a.lastListings = l;
                    }
                }
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "sampler");
        sampler.setDaemon(true);
        sampler.start();
        answer("ready " + count);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] cmd = line.trim().split(" ");
            switch (cmd[0]) {
                case "status" -> {
                    double listings = 0;
                    double compactions = 0;
                    double restarts = 0;
                    double silences = 0;
                    double relists = 0;
                    int loaded = 0;
                    long minrev = Long.MAX_VALUE;
                    for (SimAgent a : agents) {
                        minrev = Math.min(minrev, a.publisher.current().revision());
                        listings += a.count("portolan_etcd_listings");
                        compactions += a.count("portolan_etcd_compactions");
                        restarts += a.count("portolan_etcd_watch_restarts");
                        silences += a.count("portolan_etcd_watch_silences");
                        relists += a.count("portolan_registry_relists");
                        loaded += a.state.loaded() ? 1 : 0;
                    }
                    answer(String.format("status loaded=%d listings=%.0f relists=%.0f compactions=%.0f restarts=%.0f silences=%.0f"
                            + " minrev=%d", loaded, listings, relists, compactions, restarts, silences, minrev));
                }
                case "cut" -> {
                    relays.forEach(TcpProxy::cut);
                    answer("cut " + relays.size());
                }
                case "restore" -> {
                    for (TcpProxy p : relays) {
                        p.restore();
                    }
                    answer("restored " + relays.size());
                }
                case "mem" -> {
                    System.gc();
                    Thread.sleep(500);
                    System.gc();
                    long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
                    double cpu = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                            .getProcessCpuTime() / 1e9;
                    answer(String.format("mem agents=%d rssKiB=%d heapAfterGcKiB=%d threads=%d cpuSeconds=%.2f", count, rssKiB(),
                            heap / 1024, Thread.activeCount(), cpu));
                }
                case "cpu" -> {
                    double cpu = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                            .getProcessCpuTime() / 1e9;
                    answer(String.format("cpu %.3f", cpu));
                }
                case "dump" -> {
                    try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(Path.of(cmd[1])))) {
                        for (SimAgent a : agents) {
                            a.dump(out);
                        }
                    }
                    answer("dumped " + agents.size());
                }
                case "quit" -> {
                    sampler.interrupt();
                    for (SimAgent a : agents) {
                        try {
                            if (a.node != null) {
                                a.node.close();
                            }
                        } catch (RuntimeException ignored) {
                            // etcd may be gone already
                        }
                        a.registry.close();
                        a.state.close();
                        a.publisher.close();
                    }
                    relays.forEach(TcpProxy::close);
                    clients.close();
                    answer("bye");
                    System.exit(0);
                }
                default -> answer("error unknown command " + line);
            }
        }
        System.exit(0);
    }

    private static long rssKiB() throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmRSS:")) {
                return Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    private static void answer(String s) {
        System.out.println("@sim " + s);
        System.out.flush();
    }
}
