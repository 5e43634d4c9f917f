package io.portolan.agent.fleet;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The fleet: several hosts as network namespaces on one underlay bridge, each running the real
 * launcher ({@code deploy/bin/portolan agent}) as a process of its own and one member of a
 * 3-member etcd cluster (or members on the first hosts only, {@link Options#etcdMembers}), with containers (namespaces behind a bridge on each host) and an outside
 * client on the underlay. Every address exists only inside namespaces the fleet made; {@link #close()}
 * removes everything it made. See "The fleet harness" in agent/README.md.
 *
 * <pre>
 *  ns ptlf-PID-S-u: bridge "ub" ── veth ── each host's "u0" (10.213.0.N/24), the client's "u0" (10.213.0.200)
 *  ns ptlf-PID-S-hN (host N): etcd member on 10.213.0.N:2379/2380, agent (admin 127.0.0.1:9190,
 *      DNS on the bridge gateway:53), bridge "cb" (gateway .1 of the container subnet), nft table ip fleet
 *      (masquerade out of u0, host ports), ip_forward=1
 *  ns ptlf-PID-S-c-NAME (container NAME): "eth0" in host N's "cb", default route via the gateway,
 *      /etc/netns/ptlf-PID-S-c-NAME/resolv.conf: nameserver GATEWAY, search ZONE
 * </pre>
 */
public final class Fleet implements AutoCloseable {
    /** Every namespace, /etc/netns directory and temp directory the harness makes starts with this. */
    public static final String PREFIX = "ptlf-";
    public static final String UNDERLAY = "10.213.0.0/24";
    public static final String VIP_CIDR = "10.216.0.0/24";
    public static final String ZONE = "portolan.internal";
    /** The admin API inside each host namespace (loopback of that namespace). */
    public static final String ADMIN = "http://127.0.0.1:9190";
    static final String CLIENT_ADDRESS = "10.213.0.200";
    /** ROUTED: host N's containers are 172.31.N.0/24; all of them, the cluster's container range. */
    static final String ROUTED_RANGE = "172.31.0.0/16";
    static final String OVERLAPPING_SUBNET = "172.30.0";

    private static final AtomicInteger SEQ = new AtomicInteger();
    private static final Pattern OURS = Pattern.compile("^" + PREFIX + "(\\d+)-.*");

    /** How container subnets are laid out across hosts. */
    public enum Layout {
        /** The same subnet (172.30.0.0/24) on every host, as Docker's default bridge: containers reachable only through host ports. */
        OVERLAPPING,
        /** A subnet per host (172.31.N.0/24) routed over the underlay, as flannel host-gw: containers reachable by their own address. */
        ROUTED
    }

    /** The agents' {@code --dataplane}. */
    public enum Plane {
        NFTABLES("nftables"), USERSPACE("userspace"),
        /** Needs a kernel with IPVS: only inside the test VM (deploy/vm, see IpvsMeshScenario). */
        IPVS("ipvs"),
        NONE("none");

        public final String flag;

        Plane(String flag) {
            this.flag = flag;
        }
    }

    /** What to build. */
    public static final class Options {
        int hosts = 3;
        /** etcd members on hosts 1..etcdMembers; 0: one on every host. */
        int etcdMembers;
        boolean resolvConf = true;
        Layout layout = Layout.ROUTED;
        Plane plane = Plane.NFTABLES;
        final List<String> agentFlags = new ArrayList<>();
        final List<String> hostAgentFlags = new ArrayList<>();
        String javaOpts = "";
        Duration startTimeout = Duration.ofSeconds(120);

        public Options hosts(int n) {
            if (n < 1 || n > 9) {
                throw new IllegalArgumentException("1-9 hosts");
            }
            this.hosts = n;
            return this;
        }

        /**
         * An etcd member on hosts 1 to {@code n} only (default: every host); the other hosts' agents
         * reach the cluster over the underlay. Fewer members start faster (the test VM).
         */
        public Options etcdMembers(int n) {
            if (n < 1 || n > 9) {
                throw new IllegalArgumentException("1-9 etcd members");
            }
            this.etcdMembers = n;
            return this;
        }

        /**
         * Whether each container gets {@code /etc/netns/NS/resolv.conf} naming its host's agent
         * (default true). Off where {@code /etc} is read-only (the test VM): containers then have
         * the system's resolv.conf, so look up names with {@link Netns#dig} at the gateway instead.
         */
        public Options containerResolvConf(boolean on) {
            this.resolvConf = on;
            return this;
        }

        /** How long each agent may take to become ready (default 120 s). */
        public Options startTimeout(Duration d) {
            this.startTimeout = d;
            return this;
        }

        int members() {
            return etcdMembers == 0 ? hosts : Math.min(etcdMembers, hosts);
        }

        public Options layout(Layout l) {
            this.layout = l;
            return this;
        }

        public Options plane(Plane p) {
            this.plane = p;
            return this;
        }

        /** Extra flags for every agent (e.g. {@code --nft-min-sync-interval 50ms}). */
        public Options agentFlags(String... flags) {
            agentFlags.addAll(List.of(flags));
            return this;
        }

        /**
         * Extra flags for every agent in which {@code {node}}, {@code {underlay}}, {@code {gateway}} and
         * {@code {subnet}} are replaced by that host's values, e.g.
         * {@code hostAgentFlags("--advertise-address", "{underlay}", "--register-listen", "{gateway}:9191")}.
         */
        public Options hostAgentFlags(String... flags) {
            hostAgentFlags.addAll(List.of(flags));
            return this;
        }

        /** {@code PORTOLAN_JAVA_OPTS} for every process the launcher starts. */
        public Options javaOpts(String opts) {
            this.javaOpts = opts;
            return this;
        }
    }

    public static Options options() {
        return new Options();
    }

    /** A fleet of 3 hosts with this layout and plane, agents started and ready. */
    public static Fleet start(Layout layout, Plane plane) {
        return start(options().layout(layout).plane(plane));
    }

    public static Fleet start(Options o) {
        Fleet f = new Fleet(o);
        try {
            f.build();
            return f;
        } catch (RuntimeException | Error e) {
            String d = f.diagnostics();
            try {
                f.close();
            } catch (RuntimeException closing) {
                e.addSuppressed(closing);
            }
            throw new IllegalStateException("the fleet did not start: " + e.getMessage() + "\n" + d, e);
        }
    }

    final Options options;
    final String id;
    final Path dir;
    final Path launcher;
    final Path jar;
    final String underlayNs;
    private final List<Host> hosts = new ArrayList<>();
    private Client client;
    private final List<Container> containers = new CopyOnWriteArrayList<>();
    /** Every namespace made, in order of creation (deleted in reverse). */
    private final List<String> namespaces = new CopyOnWriteArrayList<>();
    private final List<Process> processes = new CopyOnWriteArrayList<>();
    private boolean closed;

    private Fleet(Options o) {
        removeLeftovers();
        this.options = o;
        this.id = PREFIX + ProcessHandle.current().pid() + "-" + SEQ.incrementAndGet();
        this.launcher = findLauncher();
        try {
            this.dir = Files.createTempDirectory(id + "-");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        try {
            this.jar = findOrMakeJar(dir);
        } catch (RuntimeException e) {
            deleteTree(dir);
            throw e;
        }
        this.underlayNs = id + "-u";
    }

    // ---------------------------------------------------------------- topology

    private void build() {
        long t0 = System.nanoTime();
        addNs(underlayNs);
        Sh.check("ip", "-n", underlayNs, "link", "add", "ub", "type", "bridge");
        Sh.check("ip", "-n", underlayNs, "link", "set", "ub", "up");
        for (int i = 1; i <= options.hosts; i++) {
            hosts.add(new Host(this, i));
        }
        client = new Client(this);
        for (Host h : hosts) {
            h.setUp();
        }
        client.setUp();
        for (Host h : etcdHosts()) {
            h.startEtcd();
        }
        for (Host h : etcdHosts()) {
            h.awaitEtcd();
        }
        long etcd = System.nanoTime();
        for (Host h : hosts) {
            h.spawnAgent();
        }
        for (Host h : hosts) {
            h.awaitAgentReady();
        }
        System.out.printf("fleet %s: %d hosts (%s, %s): etcd healthy in %d ms, agents ready in %d ms%n", id, options.hosts,
                options.layout, options.plane, (etcd - t0) / 1_000_000, (System.nanoTime() - etcd) / 1_000_000);
    }

    void addNs(String ns) {
        Sh.check("ip", "netns", "add", ns);
        namespaces.add(ns);
        Sh.check("ip", "-n", ns, "link", "set", "lo", "up");
    }

    Process spawn(List<String> argv, Path log) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PORTOLAN_JAR", jar.toString());
        env.put("PORTOLAN_JAVA_OPTS", options.javaOpts);
        // the launcher finds java on PATH (else it would install a JDK): this JVM's own
        env.put("PATH", Path.of(System.getProperty("java.home"), "bin") + File.pathSeparator + System.getenv().getOrDefault("PATH",
                "/usr/sbin:/usr/bin:/sbin:/bin"));
        Process p = Sh.spawn(argv, log, env);
        processes.add(p);
        return p;
    }

    /** The hosts, host(1) first. */
    public List<Host> hosts() {
        return Collections.unmodifiableList(hosts);
    }

    /** Host {@code n}, 1-based (node name {@code hostN}, underlay address 10.213.0.N). */
    public Host host(int n) {
        return hosts.get(n - 1);
    }

    /** The outside client on the underlay (10.213.0.200): no container subnet, no agent. */
    public Client client() {
        return client;
    }

    public Layout layout() {
        return options.layout;
    }

    public Plane plane() {
        return options.plane;
    }

    /** The hosts that run an etcd member (every host unless {@link Options#etcdMembers} said fewer). */
    public List<Host> etcdHosts() {
        return hosts.subList(0, options.members());
    }

    /** {@code http://10.213.0.1:2379,...}: every member. */
    public String etcdEndpoints() {
        List<String> l = new ArrayList<>();
        for (Host h : etcdHosts()) {
            l.add("http://" + h.underlay + ":2379");
        }
        return String.join(",", l);
    }

    String initialCluster() {
        List<String> l = new ArrayList<>();
        for (Host h : etcdHosts()) {
            l.add(h.node + "=http://" + h.underlay + ":2380");
        }
        return String.join(",", l);
    }

    /** Stops host {@code n}'s etcd member (SIGTERM, as systemctl stop would); its data stays. */
    public void stopEtcd(int n) {
        host(n).stopEtcd();
    }

    /** Starts host {@code n}'s etcd member again with its data and waits until it reports healthy. */
    public void startEtcd(int n) {
        host(n).startEtcd();
        host(n).awaitEtcd();
    }

    void register(Container c) {
        containers.add(c);
    }

    // ---------------------------------------------------------------- waiting

    /**
     * Polls {@code probe} every 100 ms until it gives a non-null value other than {@code false},
     * at most {@code timeout}; then fails with {@code what}, the last value and the fleet's diagnostics.
     */
    public <T> T await(String what, Duration timeout, Supplier<T> probe) {
        long t0 = System.nanoTime();
        long deadline = t0 + timeout.toNanos();
        T last = null;
        for (int i = 0; i < 10_000; i++) {
            last = probe.get();
            if (last != null && !Boolean.FALSE.equals(last)) {
                return last;
            }
            if (System.nanoTime() > deadline) {
                break;
            }
            sleep(100);
        }
        throw new AssertionError(what + ": not within " + timeout.toMillis() + " ms (last: " + last + ")\n" + diagnostics());
    }

    public void await(String what, Duration timeout, BooleanSupplier condition) {
        await(what, timeout, () -> condition.getAsBoolean() ? Boolean.TRUE : null);
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** The tails of every agent's and etcd member's log, for failure messages. */
    public String diagnostics() {
        StringBuilder b = new StringBuilder();
        for (Host h : hosts) {
            b.append("--- ").append(h.node).append(" agent log (").append(h.agentLog).append(")\n")
                    .append(Sh.tail(h.agentLog, 3000)).append('\n');
            if (h.index <= options.members()) {
                b.append("--- ").append(h.node).append(" etcd log\n").append(Sh.tail(h.etcdLog, 800)).append('\n');
            }
        }
        return b.toString();
    }

    /** The directory where the fleet keeps its logs, state and web roots (removed by {@link #close()}). */
    public Path dir() {
        return dir;
    }

    public String id() {
        return id;
    }

    // ---------------------------------------------------------------- teardown

    /**
     * Kills every process the fleet started and every process left in its namespaces, deletes the
     * namespaces, their /etc/netns directories and the temp directory. Throws if something is left.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Process p : processes) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        for (Process p : processes) {
            Sh.kill(p);
        }
        List<String> problems = new ArrayList<>();
        List<String> reversed = new ArrayList<>(namespaces);
        Collections.reverse(reversed);
        for (String ns : reversed) {
            killAllIn(ns);
        }
        for (String ns : reversed) {
            Sh.Result r = Sh.run("ip", "netns", "del", ns);
            if (!r.ok()) {
                problems.add(r.toString());
            }
            deleteTree(Path.of("/etc/netns", ns));
        }
        deleteTree(dir);
        for (String ns : listNamespaces()) {
            if (ns.startsWith(id + "-")) {
                problems.add("namespace " + ns + " is still there");
            }
        }
        if (Files.exists(dir)) {
            problems.add(dir + " is still there");
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("fleet " + id + " cleanup: " + problems);
        }
    }

    static void killAllIn(String ns) {
        for (int round = 0; round < 3; round++) {
            Sh.Result pids = Sh.run("ip", "netns", "pids", ns);
            if (!pids.ok() || pids.lines().isEmpty()) {
                return;
            }
            for (String pid : pids.lines()) {
                try {
                    ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
                } catch (NumberFormatException ignored) {
                    // not a pid line
                }
            }
            sleep(200);
        }
    }

    static List<String> listNamespaces() {
        List<String> l = new ArrayList<>();
        for (String line : Sh.run("ip", "netns", "list").lines()) {
            l.add(line.split("\\s+")[0]);
        }
        return l;
    }

    /**
     * Removes what an earlier run that crashed left: namespaces (and the processes in them),
     * /etc/netns directories and temp directories named {@code ptlf-PID-...} whose PID is not a
     * live process. A live run's (another JVM's) are left alone.
     */
    public static synchronized void removeLeftovers() {
        List<String> stale = new ArrayList<>();
        for (String ns : listNamespaces()) {
            if (isStale(ns)) {
                stale.add(ns);
            }
        }
        for (String ns : stale) {
            killAllIn(ns);
        }
        for (String ns : stale) {
            Sh.run("ip", "netns", "del", ns);
            System.out.println("fleet: removed leftover namespace " + ns);
        }
        for (Path parent : List.of(Path.of("/etc/netns"), Path.of(System.getProperty("java.io.tmpdir")))) {
            File[] children = parent.toFile().listFiles();
            if (children == null || !Files.isWritable(parent)) {
                // absent, or read-only (the test VM sees the host's /etc, other runs' entries included)
                continue;
            }
            for (File f : children) {
                if (isStale(f.getName())) {
                    deleteTree(f.toPath());
                    System.out.println("fleet: removed leftover " + f);
                }
            }
        }
    }

    static boolean isStale(String name) {
        Matcher m = OURS.matcher(name);
        if (!m.matches()) {
            return false;
        }
        long pid;
        try {
            pid = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            return false;
        }
        return ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true);
    }

    static void deleteTree(Path p) {
        File f = p.toFile();
        if (!f.exists() && !Files.isSymbolicLink(p)) {
            return;
        }
        File[] children = Files.isSymbolicLink(p) ? null : f.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteTree(c.toPath());
            }
        }
        f.delete();
    }

    // ---------------------------------------------------------------- launcher and jar

    /**
     * deploy/bin/portolan of this checkout (surefire runs in the agent module's directory), or the one
     * {@code -Dportolan.launcher=PATH} names (the test VM's guest, which cannot see a checkout under /tmp).
     */
    static Path findLauncher() {
        String given = System.getProperty("portolan.launcher");
        if (given != null && !given.isBlank()) {
            Path l = Path.of(given).toAbsolutePath();
            if (!Files.isExecutable(l)) {
                throw new IllegalStateException("-Dportolan.launcher=" + given + ": not an executable file");
            }
            return l;
        }
        Path d = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path p = d; p != null; p = p.getParent()) {
            Path l = p.resolve("deploy/bin/portolan");
            if (Files.isExecutable(l)) {
                return l;
            }
        }
        throw new IllegalStateException("no deploy/bin/portolan above " + d);
    }

    /**
     * The jar the launcher runs ({@code PORTOLAN_JAR}). With {@code -Dportolan.jar=PATH} (say
     * agent/target/portolan.jar after {@code mvn package}) that jar. Otherwise, since surefire runs
     * before {@code package} makes the shaded jar, a jar of this module's classes: a manifest with
     * {@code Main-Class: io.portolan.agent.Main} and a {@code Class-Path} of the test JVM's runtime
     * classpath (the same classes and dependencies the shaded jar holds; test classes and test-only
     * libraries left out), run by the launcher with {@code java -jar} like the real one.
     */
    public static Path findOrMakeJar(Path dir) {
        String given = System.getProperty("portolan.jar");
        if (given != null && !given.isBlank()) {
            Path p = Path.of(given).toAbsolutePath();
            if (!Files.isRegularFile(p)) {
                throw new IllegalStateException("-Dportolan.jar=" + given + ": no such file");
            }
            return p;
        }
        List<String> urls = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry).toAbsolutePath();
            String name = p.getFileName().toString();
            if (name.equals("test-classes") || name.startsWith("junit-") || name.startsWith("opentest4j-")
                    || name.startsWith("apiguardian-") || name.startsWith("surefire") || name.startsWith("common-java5")
                    || !Files.exists(p)) {
                continue;
            }
            urls.add(p.toUri().toString());
        }
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "io.portolan.agent.Main");
        m.getMainAttributes().put(Attributes.Name.CLASS_PATH, String.join(" ", urls));
        Path jar = dir.resolve("portolan.jar");
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out, m)) {
            j.flush();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return jar;
    }

    // ---------------------------------------------------------------- namespaces

    /** A network namespace of the fleet in which commands run. */
    public abstract static class Netns {
        final Fleet fleet;
        /** The namespace's name ({@code ip netns exec NAME}). */
        public final String ns;

        Netns(Fleet fleet, String ns) {
            this.fleet = fleet;
            this.ns = ns;
        }

        /** Runs argv inside this namespace (30 s at most). */
        public Sh.Result run(String... argv) {
            return run(Duration.ofSeconds(30), argv);
        }

        public Sh.Result run(Duration timeout, String... argv) {
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
            cmd.addAll(List.of(argv));
            return Sh.run(cmd, timeout);
        }

        /** Runs argv inside this namespace; fails unless it exits 0; returns the output. */
        public String check(String... argv) {
            Sh.Result r = run(argv);
            if (!r.ok()) {
                throw new IllegalStateException(r.toString());
            }
            return r.out();
        }

        /** Starts argv in the background inside this namespace (killed by {@link Fleet#close()}), output to {@code log}. */
        public Process spawn(Path log, String... argv) {
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
            cmd.addAll(List.of(argv));
            return fleet.spawn(cmd, log);
        }

        /** {@code curl URL} from here (2 s connect and total timeout): the body, or null if it failed. */
        public String curl(String url) {
            Sh.Result r = curlResult(url);
            return r.ok() ? r.out().trim() : null;
        }

        Sh.Result curlResult(String url) {
            return run(Duration.ofSeconds(10), "curl", "-sS", "--connect-timeout", "2", "--max-time", "3", url);
        }

        /**
         * {@code n} requests to {@code url} one after the other, each bounded by curl's timeout, the
         * whole loop by {@code n} × 3 s: the answers counted per body, the failures counted and
         * the first few failures' messages kept.
         */
        public Tally load(String url, int n) {
            long t0 = System.nanoTime();
            long deadline = t0 + n * 3_000_000_000L;
            Map<String, Integer> answers = new TreeMap<>();
            List<String> errors = new ArrayList<>();
            int failures = 0;
            int done = 0;
            for (; done < n && System.nanoTime() < deadline; done++) {
                Sh.Result r = curlResult(url);
                if (r.ok()) {
                    answers.merge(r.out().trim(), 1, Integer::sum);
                } else {
                    failures++;
                    if (errors.size() < 5) {
                        errors.add(r.out().trim());
                    }
                }
            }
            failures += n - done;
            return new Tally(url, n, answers, failures, errors, (System.nanoTime() - t0) / 1_000_000);
        }

        /** {@code getent DB NAME} from here (DB hosts, ahosts, ahostsv4): the distinct addresses in the order given; empty if it failed. */
        public List<String> getent(String db, String name) {
            Sh.Result r = run(Duration.ofSeconds(15), "getent", db, name);
            List<String> l = new ArrayList<>();
            if (r.ok()) {
                for (String line : r.lines()) {
                    String a = line.split("\\s+")[0];
                    if (!l.contains(a)) {
                        l.add(a);
                    }
                }
            }
            return l;
        }

        /** {@code dig +short @SERVER NAME A}: the answer lines (addresses) in the order given; empty if it failed. */
        public List<String> dig(String server, String name) {
            Sh.Result r = run(Duration.ofSeconds(10), "dig", "+short", "+tries=1", "+time=2", "@" + server, name, "A");
            return r.ok() ? r.lines() : List.of();
        }
    }

    /** Answers of a {@link Netns#load} run. */
    public record Tally(String url, int requests, Map<String, Integer> answers, int failures, List<String> errors, long millis) {
        public int count(String answer) {
            return answers.getOrDefault(answer, 0);
        }

        @Override
        public String toString() {
            return requests + " x " + url + " in " + millis + " ms: " + answers + ", " + failures + " failed" + (errors.isEmpty() ? "" : " " + errors);
        }
    }

    /** A host: a namespace on the underlay with an etcd member, an agent and a container bridge. */
    public static final class Host extends Netns {
        /** 1-based. */
        public final int index;
        /** The node name ({@code --node}), {@code hostN}. */
        public final String node;
        /** The host's address on the underlay, 10.213.0.N. */
        public final String underlay;
        /** The container subnet's first three octets; the gateway is .1. */
        final String subnetPrefix;
        /** The container bridge's address, where the agent's DNS answers. */
        public final String gateway;
        /** The container subnet (CIDR). */
        public final String subnet;
        final Path home;
        final Path etcdLog;
        Path agentLog;
        private Process etcd;
        private Process agent;
        private int agentStarts;
        private int nextContainerAddress = 2;
        private int registrations;

        Host(Fleet fleet, int index) {
            super(fleet, fleet.id + "-h" + index);
            this.index = index;
            this.node = "host" + index;
            this.underlay = "10.213.0." + index;
            this.subnetPrefix = fleet.options.layout == Layout.ROUTED ? "172.31." + index : OVERLAPPING_SUBNET;
            this.gateway = subnetPrefix + ".1";
            this.subnet = subnetPrefix + ".0/24";
            this.home = fleet.dir.resolve(node);
            this.etcdLog = home.resolve("etcd.log");
            this.agentLog = home.resolve("agent-1.log");
            try {
                Files.createDirectories(home);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        void setUp() {
            fleet.addNs(ns);
            String u = fleet.underlayNs;
            Sh.check("ip", "-n", u, "link", "add", "h" + index, "type", "veth", "peer", "name", "u0", "netns", ns);
            Sh.check("ip", "-n", u, "link", "set", "h" + index, "master", "ub", "up");
            Sh.check("ip", "-n", ns, "addr", "add", underlay + "/24", "dev", "u0");
            Sh.check("ip", "-n", ns, "link", "set", "u0", "up");
            check("sysctl", "-qw", "net.ipv4.ip_forward=1");
            Sh.check("ip", "-n", ns, "link", "add", "cb", "type", "bridge");
            Sh.check("ip", "-n", ns, "addr", "add", gateway + "/24", "dev", "cb");
            Sh.check("ip", "-n", ns, "link", "set", "cb", "up");
            boolean routed = fleet.options.layout == Layout.ROUTED;
            if (routed) {
                for (int j = 1; j <= fleet.options.hosts; j++) {
                    if (j != index) {
                        Sh.check("ip", "-n", ns, "route", "add", "172.31." + j + ".0/24", "via", "10.213.0." + j);
                    }
                }
            }
            // containers reach beyond the host masqueraded (as Docker and flannel's ip-masq do); in ROUTED,
            // traffic between container subnets keeps its addresses. Host ports (publishHostPort) go into
            // the prerouting and output chains; with OVERLAPPING, a container reaching a neighbour through a
            // host port is masqueraded too (Docker's hairpin rule), so the reply comes back the same way.
            String script = String.join("\n",
                    "table ip fleet {",
                    "  chain prerouting { type nat hook prerouting priority -110; }",
                    "  chain output { type nat hook output priority -110; }",
                    "  chain postrouting { type nat hook postrouting priority 110;",
                    "    oifname \"u0\" ip saddr " + subnet + (routed ? " ip daddr != " + ROUTED_RANGE : "") + " masquerade",
                    routed ? "" : "    oifname \"cb\" ip saddr " + subnet + " ct status dnat masquerade",
                    "  }",
                    "}", "");
            Sh.checkWithInput(List.of("ip", "netns", "exec", ns, "nft", "-f", "-"), script);
        }

        // ------------------------------------------------------------ etcd

        void startEtcd() {
            if (index > fleet.options.members()) {
                throw new IllegalStateException(node + " runs no etcd member (etcdMembers " + fleet.options.members() + ")");
            }
            if (etcd != null && etcd.isAlive()) {
                throw new IllegalStateException(node + ": etcd is running");
            }
            String client = "http://" + underlay + ":2379";
            String peer = "http://" + underlay + ":2380";
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns, "env", "ETCD_UNSUPPORTED_ARCH=",
                    "etcd", "--name", node, "--data-dir", home.resolve("etcd").toString(),
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", fleet.initialCluster(), "--initial-cluster-state", "new",
                    "--initial-cluster-token", fleet.id, "--log-level", "warn", "--logger", "zap"));
            etcd = fleet.spawn(cmd, etcdLog);
        }

        /** Waits until this member reports healthy (it has a leader). */
        void awaitEtcd() {
            fleet.await(node + "'s etcd member healthy", Duration.ofSeconds(60), () -> {
                if (!etcd.isAlive()) {
                    throw new IllegalStateException(node + "'s etcd exited with " + etcd.exitValue() + ": " + Sh.tail(etcdLog, 3000));
                }
                String h = curl("http://" + underlay + ":2379/health");
                return h != null && h.replace(" ", "").contains("\"health\":\"true\"");
            });
        }

        void stopEtcd() {
            Sh.stop(etcd, Duration.ofSeconds(10));
            etcd = null;
        }

        /** Whether this host's etcd member process is running. */
        public boolean etcdRunning() {
            return etcd != null && etcd.isAlive();
        }

        // ------------------------------------------------------------ the agent

        /** The agent's argv after {@code portolan agent}. */
        List<String> agentArgs() {
            List<String> a = new ArrayList<>(List.of("--node", node, "--etcd-endpoints", fleet.etcdEndpoints(),
                    "--state-dir", home.resolve("state").toString(), "--admin-listen", "127.0.0.1:9190",
                    "--dns-listen", gateway + ":53", "--dns-zone", ZONE, "--dns-recursion-clients", subnet + ",127.0.0.0/8",
                    "--vip-cidr", VIP_CIDR, "--dataplane", fleet.options.plane.flag));
            a.addAll(fleet.options.agentFlags);
            for (String f : fleet.options.hostAgentFlags) {
                a.add(f.replace("{node}", node).replace("{underlay}", underlay).replace("{gateway}", gateway).replace("{subnet}", subnet));
            }
            return a;
        }

        void spawnAgent() {
            if (agent != null && agent.isAlive()) {
                throw new IllegalStateException(node + ": the agent is running");
            }
            agentStarts++;
            agentLog = home.resolve("agent-" + agentStarts + ".log");
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns, fleet.launcher.toString(), "agent"));
            cmd.addAll(agentArgs());
            agent = fleet.spawn(cmd, agentLog);
        }

        void awaitAgentReady() {
            fleet.await(node + "'s agent ready (GET /readyz)", fleet.options.startTimeout, () -> {
                if (!agent.isAlive()) {
                    throw new IllegalStateException(node + "'s agent exited with " + agent.exitValue() + ": " + Sh.tail(agentLog, 4000));
                }
                return run(Duration.ofSeconds(5), "curl", "-sf", "--max-time", "1", ADMIN + "/readyz").ok();
            });
        }

        /** Starts this host's agent (again) and waits until it is ready. */
        public void startAgent() {
            spawnAgent();
            awaitAgentReady();
        }

        /** SIGTERM to the agent; returns its exit code (-1 if it had to be killed after 20 s). */
        public int stopAgent() {
            int code = Sh.stop(agent, Duration.ofSeconds(20));
            agent = null;
            return code;
        }

        /** SIGKILL to the agent (a crash). */
        public void killAgent() {
            Sh.kill(agent);
            agent = null;
        }

        public boolean agentRunning() {
            return agent != null && agent.isAlive();
        }

        /** The current agent process's log. */
        public Path agentLog() {
            return agentLog;
        }

        /** GET {@code path} on this host's admin API (e.g. /v1/services): the body, or null unless 2xx. */
        public String admin(String path) {
            Sh.Result r = run(Duration.ofSeconds(10), "curl", "-sS", "--fail-with-body", "--max-time", "5", ADMIN + path);
            return r.ok() ? r.out() : null;
        }

        /** This host's nft ruleset (for messages). */
        public String ruleset() {
            return run("nft", "list", "ruleset").out();
        }

        // ------------------------------------------------------------ registration

        /**
         * Starts {@code portolan register --agent http://127.0.0.1:9190 ARGS} through the launcher
         * inside this host's namespace (the CLI heartbeats, the agent holds the lease); returns at
         * once. {@link Registration#await()} waits for its "registered" line.
         */
        public Registration startRegistration(String... args) {
            registrations++;
            Path log = home.resolve("register-" + registrations + ".log");
            List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns, fleet.launcher.toString(), "register", "--agent", ADMIN));
            cmd.addAll(List.of(args));
            return new Registration(this, fleet.spawn(cmd, log), log);
        }

        /** {@link #startRegistration} and wait for it. */
        public Registration register(String... args) {
            return startRegistration(args).await();
        }

        // ------------------------------------------------------------ containers

        /** A new container (namespace) on this host's bridge, with the next free address of its subnet. */
        public Container container(String name) {
            if (!name.matches("[a-z][a-z0-9]{0,11}")) {
                throw new IllegalArgumentException("container name: a lower-case letter, then up to 11 letters or digits: " + name);
            }
            int host = nextContainerAddress++;
            Container c = new Container(fleet, this, name, subnetPrefix + "." + host);
            c.setUp(host);
            fleet.register(c);
            return c;
        }

        /**
         * Publishes a container's TCP port on a port of this host (as {@code docker run -p HOSTPORT:PORT}):
         * traffic to any of the host's addresses on {@code hostPort} is DNATed to the container.
         */
        public void publishHostPort(Container c, int hostPort, int port) {
            if (c.host != this) {
                throw new IllegalArgumentException(c.name + " is on " + c.host.node);
            }
            String rule = "fib daddr type local tcp dport " + hostPort + " dnat to " + c.address + ":" + port;
            Sh.checkWithInput(List.of("ip", "netns", "exec", ns, "nft", "-f", "-"), String.join("\n",
                    "add rule ip fleet prerouting " + rule,
                    "add rule ip fleet output " + rule, ""));
        }

        @Override
        public String toString() {
            return node + " (" + ns + ", " + underlay + ", containers " + subnet + ")";
        }
    }

    /** A running {@code portolan register} (it heartbeats; {@link #close()} sends SIGTERM, so it deregisters). */
    public static final class Registration implements AutoCloseable {
        private static final Pattern LINE = Pattern.compile("(?m)^registered ([a-z0-9-]+)/(\\S+)(?: vip (\\S+))?$");
        final Host host;
        final Process process;
        final Path log;
        /** Set by {@link #await()}. */
        public String service;
        public String id;
        /** The service's VIP as the CLI printed it (null for dnsrr). */
        public String vip;

        Registration(Host host, Process process, Path log) {
            this.host = host;
            this.process = process;
            this.log = log;
        }

        /** Waits (60 s at most) for the CLI's {@code registered SERVICE/ID [vip VIP]} line. */
        public Registration await() {
            host.fleet.await("registration on " + host.node + " (" + log + ")", Duration.ofSeconds(60), () -> {
                String text = Sh.tail(log, 100_000);
                Matcher m = LINE.matcher(text);
                if (m.find()) {
                    service = m.group(1);
                    id = m.group(2);
                    vip = m.group(3);
                    return true;
                }
                if (!process.isAlive()) {
                    throw new IllegalStateException("register on " + host.node + " exited with " + process.exitValue() + ": " + text);
                }
                return false;
            });
            return this;
        }

        public boolean alive() {
            return process.isAlive();
        }

        /** SIGTERM: the CLI deregisters, waits its drain and exits (SIGKILL after 15 s). */
        @Override
        public void close() {
            Sh.stop(process, Duration.ofSeconds(15));
        }
    }

    /** A container: a namespace behind its host's bridge, resolving through the host's agent. */
    public static final class Container extends Netns {
        public final Host host;
        public final String name;
        /** Its address on the host's container subnet. */
        public final String address;

        Container(Fleet fleet, Host host, String name, String address) {
            super(fleet, fleet.id + "-c-" + name);
            this.host = host;
            this.name = name;
            this.address = address;
        }

        void setUp(int n) {
            fleet.addNs(ns);
            String veth = "c" + n;
            Sh.check("ip", "-n", host.ns, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns);
            Sh.check("ip", "-n", host.ns, "link", "set", veth, "master", "cb", "up");
            Sh.check("ip", "-n", ns, "addr", "add", address + "/24", "dev", "eth0");
            Sh.check("ip", "-n", ns, "link", "set", "eth0", "up");
            Sh.check("ip", "-n", ns, "route", "add", "default", "via", host.gateway);
            if (!fleet.options.resolvConf) {
                return;
            }
            try {
                Path etc = Files.createDirectories(Path.of("/etc/netns", ns));
                Files.writeString(etc.resolve("resolv.conf"), "nameserver " + host.gateway + "\nsearch " + ZONE + "\n",
                        StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        /**
         * Starts {@code deploy/bin/portolan register --agent AGENT ARGS} inside this container (as a
         * container's entrypoint would: {@code AGENT} is typically its host's registration listener,
         * {@code http://GATEWAY:9191}); returns at once. {@link Registration#await()} waits for its
         * "registered" line; {@link Registration#close()} sends SIGTERM.
         */
        public Registration startRegistration(String agent, String... args) {
            Path log = fleet.dir.resolve("register-" + name + "-" + REGISTRATIONS.incrementAndGet() + ".log");
            List<String> cmd = new ArrayList<>(List.of(fleet.launcher.toString(), "register", "--agent", agent));
            cmd.addAll(List.of(args));
            return new Registration(host, spawn(log, cmd.toArray(String[]::new)), log);
        }

        private static final AtomicInteger REGISTRATIONS = new AtomicInteger();

        /**
         * Starts an HTTP server on {@code address:port} in this container that answers every GET with
         * this container's name (python3's http.server over a directory with that index.html), and
         * waits until it answers. Returns the name (the identity its answers carry).
         */
        public String serveHttp(int port) {
            Path www = fleet.dir.resolve("www-" + name + "-" + port);
            try {
                Files.createDirectories(www);
                Files.writeString(www.resolve("index.html"), name + "\n", StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
            Process p = spawn(fleet.dir.resolve("http-" + name + "-" + port + ".log"), "python3", "-m", "http.server",
                    String.valueOf(port), "--bind", address, "--directory", www.toString());
            fleet.await(name + " serving on " + address + ":" + port, Duration.ofSeconds(20), () -> {
                if (!p.isAlive()) {
                    throw new IllegalStateException(name + "'s http server exited: " + Sh.tail(fleet.dir.resolve("http-" + name + "-" + port + ".log"), 2000));
                }
                return name.equals(curl("http://" + address + ":" + port + "/"));
            });
            return name;
        }

        @Override
        public String toString() {
            return name + " (" + address + " on " + host.node + ")";
        }
    }

    /** The outside client: a namespace on the underlay only. */
    public static final class Client extends Netns {
        public final String address = CLIENT_ADDRESS;

        Client(Fleet fleet) {
            super(fleet, fleet.id + "-cl");
        }

        void setUp() {
            fleet.addNs(ns);
            Sh.check("ip", "-n", fleet.underlayNs, "link", "add", "cl", "type", "veth", "peer", "name", "u0", "netns", ns);
            Sh.check("ip", "-n", fleet.underlayNs, "link", "set", "cl", "master", "ub", "up");
            Sh.check("ip", "-n", ns, "addr", "add", address + "/24", "dev", "u0");
            Sh.check("ip", "-n", ns, "link", "set", "u0", "up");
        }
    }
}
