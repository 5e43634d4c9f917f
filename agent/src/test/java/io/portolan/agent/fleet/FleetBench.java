package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The fleet benchmark (bench/fleet/run.sh), two figures:
 * <ol>
 *   <li><b>convergence</b>: a container on host 1 registers (and then deregisters) an instance of a
 *   dnsrr service through its host's registration listener, {@code changes} times; for each, the
 *   time from the API's answer (201, 200) to the change being in the DNS answer a container gets on
 *   EVERY host. A probe JVM runs in a container on each host ({@code ip netns exec}: containers'
 *   addresses exist only inside the fleet's namespaces) and polls its host's DNS about every
 *   millisecond; the probes and this process share CLOCK_MONOTONIC ({@link System#nanoTime}).
 *   p50, p99, max; target p99 &lt; 100 ms.</li>
 *   <li><b>the data plane's cost across hosts</b>: from a container on host 1, {@code wrk} against
 *   nginx in a container on host 2, straight to its address and through the service's VIP, in
 *   alternating rounds, with a new connection per request ({@code Connection: close}) and with
 *   keep-alive; the VIP's requests/s as a ratio to the direct ones, per plane. The close rounds run
 *   twice: first with the instance keeping no TIME_WAIT sockets ({@code tcp_max_tw_buckets=0} in
 *   its namespace), which isolates the data plane's own cost per connection, then as the kernel
 *   comes (the instance, which closes first, keeps TIME_WAIT for 60 s). With the nftables plane's
 *   {@code masquerade fully-random}, a new connection through the VIP often gets a source port
 *   whose tuple is still in TIME_WAIT at the instance, from another client flow whose timestamps
 *   ran ahead of this one's: the instance refuses the SYN by PAWS and the client retransmits it
 *   1 s later. The count of those refusals ({@code TcpExtPAWSTimewait}) is printed.</li>
 * </ol>
 * Usage: {@code FleetBench [CHANGES=200] [SECONDS=5] [ROUNDS=3] [PLANES=nftables,userspace] [WARMUP=15]}.
 * Every loop is bounded in count and time; the fleet is closed on every path.
 */
public final class FleetBench {
    private FleetBench() {
    }

    static final String SERVICE = "conv";
    static final int LISTENER_PORT = 9191;

    public static void main(String[] args) throws Exception {
        int changes = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        List<String> planes = Arrays.asList((args.length > 3 ? args[3] : "nftables,userspace").split(","));
        int warmup = args.length > 4 ? Integer.parseInt(args[4]) : 15;
        if (changes < 1 || changes > 10_000 || seconds < 1 || seconds > 120 || rounds < 1 || rounds > 20) {
            throw new IllegalArgumentException("CHANGES 1-10000, SECONDS 1-120, ROUNDS 1-20");
        }
        List<String> out = new ArrayList<>();
        boolean first = true;
        for (String p : planes) {
            Fleet.Plane plane = Fleet.Plane.valueOf(p.trim().toUpperCase());
            try (Fleet fleet = Fleet.start(Fleet.options().layout(Fleet.Layout.ROUTED).plane(plane).javaOpts(System.getProperty("fleet.javaOpts", ""))
                    .agentFlags(agentFlags())
                    .hostAgentFlags("--advertise-address", "{underlay}", "--register-listen", "{gateway}:" + LISTENER_PORT))) {
                if (first) {
                    out.add(convergence(fleet, changes));
                    first = false;
                }
                out.add(dataPlaneCost(fleet, seconds, rounds, warmup));
            }
        }
        System.out.println();
        out.forEach(System.out::println);
    }

    /** {@code -Dfleet.agentFlags="--nft-masquerade published"}: extra flags for every agent. */
    static String[] agentFlags() {
        String f = System.getProperty("fleet.agentFlags", "").trim();
        return f.isEmpty() ? new String[0] : f.split("\\s+");
    }

    // ------------------------------------------------------------------ convergence

    static String convergence(Fleet fleet, int changes) throws Exception {
        List<Probe> probes = new ArrayList<>();
        try {
            for (Host h : fleet.hosts()) {
                probes.add(Probe.start(fleet, h.container("probe" + h.index)));
            }
            Probe registrar = probes.get(0);
            String address = registrar.container.address;
            List<Long> reg = new ArrayList<>();
            List<Long> dereg = new ArrayList<>();
            List<Long> perHostMax = new ArrayList<>(Collections.nCopies(probes.size(), 0L));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30L + changes);
            String stopped = null;
            for (int i = 0; i < changes && System.nanoTime() < deadline && stopped == null; i++) {
                String id = SERVICE + "-" + i;
                try {
                    reg.add(change(probes, registrar, "register " + id, "present " + address, perHostMax));
                    dereg.add(change(probes, registrar, "deregister " + id, "absent " + address, perHostMax));
                } catch (IllegalStateException e) {
                    // e.g. etcd not answering within --etcd-timeout on a host others load: report what was measured
                    stopped = "stopped after " + i + " changes: " + e.getMessage();
                }
            }
            List<Long> all = new ArrayList<>(reg);
            all.addAll(dereg);
            StringBuilder b = new StringBuilder();
            b.append(String.format("convergence (%s fleet, %d hosts): %d registrations and %d deregistrations through host1's registration "
                            + "listener, from the API's answer to the DNS answer of a container on every host (polled every ~1 ms):%n",
                    fleet.plane().flag, fleet.hosts().size(), reg.size(), dereg.size()));
            b.append("  register:   ").append(stats(reg)).append('\n');
            b.append("  deregister: ").append(stats(dereg)).append('\n');
            b.append("  all:        ").append(stats(all)).append(String.format("   target p99 < 100 ms: %s%n",
                    percentile(all, 0.99) < 100_000_000L ? "met" : "MISSED"));
            b.append("  slowest per host: ");
            for (int i = 0; i < probes.size(); i++) {
                b.append(String.format("host%d %.1f ms  ", i + 1, perHostMax.get(i) / 1e6));
            }
            if (stopped != null) {
                b.append("\n  ").append(stopped);
            }
            return b.toString();
        } finally {
            probes.forEach(Probe::close);
        }
    }

    /**
     * Every probe watches for {@code want} ("present ADDR" or "absent ADDR") and says when its first
     * poll has shown the old state; then the registrar makes the change; returns the time from the
     * API's answer to the last probe seeing the change (ns; negative if every host had it before the
     * answer came back).
     */
    static long change(List<Probe> probes, Probe registrar, String command, String want, List<Long> perHostMax) throws Exception {
        for (Probe p : probes) {
            p.send("watch " + want);
        }
        for (Probe p : probes) {
            p.expect("watching");
        }
        registrar.send(command);
        long done = Long.parseLong(registrar.expect("done").split(" ")[1]);
        long last = Long.MIN_VALUE;
        for (int i = 0; i < probes.size(); i++) {
            long seen = Long.parseLong(probes.get(i).expect("seen").split(" ")[1]);
            last = Math.max(last, seen);
            perHostMax.set(i, Math.max(perHostMax.get(i), seen - done));
        }
        return last - done;
    }

    static String stats(List<Long> nanos) {
        long over = nanos.stream().filter(n -> n > 100_000_000L).count();
        return String.format("p50 %6.1f ms   p90 %6.1f ms   p99 %6.1f ms   max %6.1f ms   (n=%d, %d over 100 ms)", percentile(nanos, 0.5) / 1e6,
                percentile(nanos, 0.9) / 1e6, percentile(nanos, 0.99) / 1e6, percentile(nanos, 1.0) / 1e6, nanos.size(), over);
    }

    static long percentile(List<Long> values, double p) {
        if (values.isEmpty()) {
            return -1;
        }
        List<Long> s = new ArrayList<>(values);
        Collections.sort(s);
        return s.get(Math.min(s.size() - 1, (int) Math.ceil(p * s.size()) - 1 < 0 ? 0 : (int) Math.ceil(p * s.size()) - 1));
    }

    /** This process's side of a probe JVM in a container: commands on its stdin, answers on its stdout. */
    /**
     * When the last of {@code probes} saw what it watches for (its "seen" line's time), waiting at most
     * {@code seconds} for each; a probe that saw it before it was told to watch fails the run.
     */
    public static long lastSeen(List<Probe> probes, int seconds) throws InterruptedException {
        long last = Long.MIN_VALUE;
        for (Probe p : probes) {
            String l = p.expect("seen", seconds);
            if (l.contains("already")) {
                throw new IllegalStateException(p.container.name + ": " + l);
            }
            last = Math.max(last, Long.parseLong(l.split(" ")[1]));
        }
        return last;
    }

    public static final class Probe implements AutoCloseable {
        public final Container container;
        final Process process;
        final PrintWriter in;
        final BlockingQueue<String> lines = new ArrayBlockingQueue<>(10_000);

        Probe(Container container, Process process) {
            this.container = container;
            this.process = process;
            this.in = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
            Thread t = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        lines.offer(l);
                    }
                } catch (IOException ignored) {
                    // the probe ended
                }
            }, "probe-" + container.name);
            t.setDaemon(true);
            t.start();
        }

        static Probe start(Fleet fleet, Container c) throws IOException, InterruptedException {
            return start(fleet, c, SERVICE, 10);
        }

        /** A probe polling the A records of {@code name} (in the fleet's zone), each watch for {@code watchSeconds} at most. */
        public static Probe start(Fleet fleet, Container c, String name, int watchSeconds) throws IOException, InterruptedException {
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", c.ns,
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC", "-Xmx64m",
                    "-cp", System.getProperty("java.class.path"), ProbeMain.class.getName(),
                    c.host.gateway, "http://" + c.host.gateway + ":" + LISTENER_PORT, name, String.valueOf(watchSeconds)));
            Path err = fleet.dir().resolve("probe-" + c.name + ".err");
            Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).start();
            Probe probe = new Probe(c, p);
            probe.expect("ready");
            return probe;
        }

        public void send(String command) {
            in.println(command);
        }

        /** Lines read while waiting for another kind ("seen" may come before "done" on the registrar's own host). */
        final List<String> pending = new ArrayList<>();

        /** The first line that starts with {@code prefix} (15 s at most); an "error" or "timeout" line fails. */
        public String expect(String prefix) throws InterruptedException {
            return expect(prefix, 15);
        }

        /** The first line that starts with {@code prefix} ({@code seconds} at most); an "error" or "timeout" line fails. */
        public String expect(String prefix, int seconds) throws InterruptedException {
            for (var it = pending.iterator(); it.hasNext(); ) {
                String l = it.next();
                if (l.startsWith(prefix)) {
                    it.remove();
                    return l;
                }
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            while (System.nanoTime() < deadline) {
                String l = lines.poll(100, TimeUnit.MILLISECONDS);
                if (l == null) {
                    continue;
                }
                if (l.startsWith(prefix)) {
                    return l;
                }
                if (l.startsWith("error") || l.startsWith("timeout") || pending.size() > 100) {
                    throw new IllegalStateException(container.name + "'s probe: wanted '" + prefix + "', got '" + l + "'");
                }
                pending.add(l);
            }
            throw new IllegalStateException(container.name + "'s probe: no '" + prefix + "' line in " + seconds + " s (pending " + pending + ")"
                    + (process.isAlive() ? "" : " (exited " + process.exitValue() + ")"));
        }

        @Override
        public void close() {
            try {
                send("quit");
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    Sh.kill(process);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                Sh.kill(process);
            }
        }
    }

    /**
     * The probe, run in a container: {@code ProbeMain DNS_SERVER LISTENER_URL [NAME [WATCH_SECONDS]]} (NAME: the
     * name polled, in the fleet's zone, default the bench's service). Commands on stdin:
     * {@code watch present|absent ADDRESS} (answers "watching" after the first poll, then "seen NANOS"
     * once the DNS answer for the name has, or no longer has, ADDRESS; "timeout" after WATCH_SECONDS, default 10),
     * {@code register ID} / {@code deregister ID} through the listener (answers "done NANOS" at the
     * 201/200), {@code quit}.
     */
    public static final class ProbeMain {
        private ProbeMain() {
        }

        public static void main(String[] args) throws Exception {
            InetSocketAddress dns = new InetSocketAddress(args[0], 53);
            URI listener = URI.create(args[1]);
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
            PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            Name name = Name.fromString((args.length > 2 ? args[2] : SERVICE) + "." + Fleet.ZONE + ".");
            long watchNanos = TimeUnit.SECONDS.toNanos(args.length > 3 ? Long.parseLong(args[3]) : 10);
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            try (DatagramSocket socket = new DatagramSocket()) {
                socket.connect(dns);
                socket.setSoTimeout(200);
                // warm up: the JIT, the socket, the HTTP client
                for (int i = 0; i < 200; i++) {
                    answer(socket, name, i);
                }
                out.println("ready");
                Thread watcher = null;
                for (String line; (line = in.readLine()) != null; ) {
                    String[] w = line.split(" ");
                    switch (w[0]) {
                        case "watch" -> {
                            if (watcher != null) {
                                watcher.join(TimeUnit.NANOSECONDS.toMillis(watchNanos) + 5_000);
                            }
                            boolean present = w[1].equals("present");
                            String address = w[2];
                            watcher = new Thread(() -> watch(socket, name, present, address, out, watchNanos), "watch");
                            watcher.start();
                        }
                        case "register", "deregister" -> {
                            boolean reg = w[0].equals("register");
                            HttpRequest.Builder b = HttpRequest.newBuilder(listener.resolve(reg ? "/v1/instances" : "/v1/instances/" + SERVICE + "/" + w[1]))
                                    .timeout(Duration.ofSeconds(10));
                            if (reg) {
                                b.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{\"service\":\"" + SERVICE
                                        + "\",\"mode\":\"dnsrr\",\"id\":\"" + w[1] + "\",\"ttl\":30,\"ports\":[{\"name\":\"http\",\"port\":80}]}"));
                            } else {
                                b.DELETE();
                            }
                            HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
                            long t = System.nanoTime();
                            out.println(r.statusCode() == (reg ? 201 : 200) ? "done " + t : "error " + r.statusCode() + " " + r.body());
                        }
                        case "quit" -> {
                            return;
                        }
                        default -> out.println("error unknown command " + line);
                    }
                }
            }
        }

        static void watch(DatagramSocket socket, Name name, boolean present, String address, PrintStream out, long watchNanos) {
            long deadline = System.nanoTime() + watchNanos;
            int id = 1;
            boolean first = true;
            while (System.nanoTime() < deadline) {
                List<String> a = answer(socket, name, id++ & 0xffff);
                long t = System.nanoTime();
                boolean has = a != null && a.contains(address);
                if (first) {
                    first = false;
                    out.println("watching");
                    if (a == null || has == present) {
                        // the old state was not seen first: the measurement would be wrong
                        out.println("seen " + t + " (already " + (present ? "present" : "absent") + " at the first poll)");
                        return;
                    }
                } else if (a != null && has == present) {
                    out.println("seen " + t);
                    return;
                }
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
            out.println("timeout");
        }

        /** The A records' addresses for {@code name}, or null if there was no answer in 200 ms. */
        static List<String> answer(DatagramSocket socket, Name name, int id) {
            try {
                Message q = Message.newQuery(Record.newRecord(name, Type.A, DClass.IN));
                q.getHeader().setID(id);
                byte[] wire = q.toWire();
                socket.send(new DatagramPacket(wire, wire.length));
                byte[] buf = new byte[4096];
                while (true) {
                    DatagramPacket p = new DatagramPacket(buf, buf.length);
                    socket.receive(p);
                    Message m = new Message(Arrays.copyOf(buf, p.getLength()));
                    if (m.getHeader().getID() != id) {
                        continue; // a late answer to an earlier query
                    }
                    List<String> l = new ArrayList<>();
                    for (Record r : m.getSection(Section.ANSWER)) {
                        if (r instanceof ARecord ar) {
                            l.add(ar.getAddress().getHostAddress());
                        }
                    }
                    return l;
                }
            } catch (SocketTimeoutException e) {
                return null;
            } catch (IOException e) {
                return null;
            }
        }
    }

    // ------------------------------------------------------------------ data plane cost

    private static final Pattern RPS = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
    private static final Pattern P99 = Pattern.compile("(?m)^\\s+99%\\s+([0-9.]+)(us|ms|s)\\s*$");

    static String dataPlaneCost(Fleet fleet, int seconds, int rounds, int warmup) {
        Host h1 = fleet.host(1);
        Host h2 = fleet.host(2);
        Container server = h2.container("nginx");
        Container client = h1.container("wrk");
        Path conf = fleet.dir().resolve("nginx-" + fleet.plane().flag + ".conf");
        try {
            Files.writeString(conf, String.join("\n",
                    "worker_processes 1;", "daemon off;", "pid " + fleet.dir().resolve("nginx.pid") + ";",
                    "error_log " + fleet.dir().resolve("nginx-error.log") + " warn;",
                    "events { worker_connections 4096; }",
                    "http { access_log off; keepalive_requests 100000;",
                    "  server { listen " + server.address + ":8080 reuseport backlog=4096;",
                    "    location / { return 200 \"nginx\\n\"; } } }", ""));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        server.spawn(fleet.dir().resolve("nginx.log"), "nginx", "-c", conf.toString());
        String direct = "http://" + server.address + ":8080/";
        fleet.await("nginx answering in " + server, Duration.ofSeconds(20), () -> "nginx".equals(client.curl(direct)));
        Fleet.Registration r = h2.register("--service", "echo", "--address", server.address, "--port", "http:8080");
        String vip = "http://" + r.vip + ":8080/";
        fleet.await("the VIP answering from host1's container", Duration.ofSeconds(30), () -> "nginx".equals(client.curl(vip)));
        // the instance without TIME_WAIT first (see the class comment), then keep-alive, then as it comes
        String tw = server.check("sysctl", "-n", "net.ipv4.tcp_max_tw_buckets").trim();
        server.check("sysctl", "-qw", "net.ipv4.tcp_max_tw_buckets=0");
        if (warmup > 0) {
            // with a new connection per request the userspace plane's JIT compiles for ~15 s
            wrk(client, vip, Math.max(1, warmup * 2 / 3), "close");
            wrk(client, vip, Math.max(1, warmup / 3), "keepalive");
        }
        StringBuilder b = new StringBuilder(String.format("data plane cost (%s%s): wrk -t1 -c32 %d s x %d rounds from a container on host1 to "
                + "nginx in a container on host2, straight and through the VIP, alternating (medians):%n", fleet.plane().flag,
                agentFlags().length == 0 ? "" : " " + String.join(" ", agentFlags()), seconds, rounds));
        for (String mode : List.of("close", "keepalive", "close-tw")) {
            if (mode.equals("close-tw")) {
                server.check("sysctl", "-qw", "net.ipv4.tcp_max_tw_buckets=" + tw);
            }
            long paws = paws(server);
            List<Double> ratios = new ArrayList<>();
            List<double[]> d = new ArrayList<>();
            List<double[]> v = new ArrayList<>();
            for (int i = 0; i < rounds; i++) {
                double[] a = wrk(client, direct, seconds, mode);
                double[] c = wrk(client, vip, seconds, mode);
                d.add(a);
                v.add(c);
                ratios.add(c[0] / a[0]);
            }
            String label = switch (mode) {
                case "close" -> "close, instance without TIME_WAIT:";
                case "keepalive" -> "keep-alive:";
                default -> "close, instance with TIME_WAIT:";
            };
            b.append(String.format("  %-35s direct %7.0f req/s (p99 %6.2f ms)  VIP %7.0f req/s (p99 %6.2f ms)  VIP/direct %.2f  rounds %s",
                    label, median(d, 0), median(d, 1), median(v, 0), median(v, 1), medianOf(ratios),
                    ratios.stream().map(x -> String.format("%.2f", x)).toList()));
            if (mode.startsWith("close")) {
                b.append(String.format("; SYNs the instance refused by PAWS in TIME_WAIT: %d", paws(server) - paws));
            }
            b.append('\n');
        }
        b.append("  host1 conntrack: ").append(conntrack(h1)).append('\n');
        return b.toString();
    }

    /** The instance's TcpExtPAWSTimewait: SYNs that hit a TIME_WAIT socket and were refused by PAWS (timestamp older). */
    static long paws(Container server) {
        Matcher m = Pattern.compile("TcpExtPAWSTimewait\\s+(\\d+)").matcher(server.run("nstat", "-az", "TcpExtPAWSTimewait").out());
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    /** Entries and the kernel's insert failures and drops ({@code conntrack -C}, {@code -S}, summed over CPUs) in a host. */
    static String conntrack(Host h) {
        Sh.Result count = h.run("conntrack", "-C");
        Sh.Result stats = h.run("conntrack", "-S");
        long insertFailed = 0;
        long drop = 0;
        Matcher m = Pattern.compile("insert_failed=(\\d+).*?drop=(\\d+)").matcher(stats.out());
        while (m.find()) {
            insertFailed += Long.parseLong(m.group(1));
            drop += Long.parseLong(m.group(2));
        }
        return count.out().trim() + " entries, insert_failed " + insertFailed + ", drop " + drop;
    }

    /** {@code wrk -t1 -c32 -d SECONDS [-H 'Connection: close'] --latency URL} in {@code c}: {requests/s, p99 ms}. */
    static double[] wrk(Container c, String url, int seconds, String mode) {
        List<String> argv = new ArrayList<>(List.of("wrk", "-t1", "-c32", "-d" + seconds + "s", "--timeout", "2s", "--latency"));
        if (mode.startsWith("close")) {
            argv.addAll(List.of("-H", "Connection: close"));
        }
        argv.add(url);
        Sh.Result r = c.run(Duration.ofSeconds(seconds + 30L), argv.toArray(String[]::new));
        Matcher m = RPS.matcher(r.out());
        Matcher p = P99.matcher(r.out());
        if (!r.ok() || !m.find()) {
            throw new IllegalStateException("wrk failed: " + r);
        }
        if (r.out().contains("Non-2xx") || r.out().contains("Socket errors")) {
            System.out.println("note: " + url + " " + mode + ": " + r.out().replaceAll("(?s).*?((Non-2xx|Socket errors)[^\n]*).*", "$1"));
        }
        double p99 = -1;
        if (p.find()) {
            double x = Double.parseDouble(p.group(1));
            p99 = switch (p.group(2)) {
                case "us" -> x / 1000;
                case "s" -> x * 1000;
                default -> x;
            };
        }
        return new double[] {Double.parseDouble(m.group(1)), p99};
    }

    static double median(List<double[]> l, int i) {
        List<Double> x = new ArrayList<>();
        l.forEach(a -> x.add(a[i]));
        return medianOf(x);
    }

    static double medianOf(List<Double> x) {
        List<Double> s = new ArrayList<>(x);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }
}
