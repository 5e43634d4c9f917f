package io.portolan.agent.ipvs;

import io.portolan.agent.fleet.Fleet;
import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import io.portolan.agent.fleet.Sh;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Fleet scenario 2 (the routing mesh, seeds 002 and 004) with the ipvs data plane, run inside the
 * test VM by {@link IpvsVmTest} after {@link IpvsScenario} (same boot, same JVM). It uses the
 * {@link Fleet} harness as the host-side tests do — hosts as namespaces on an underlay bridge,
 * the real launcher per host with {@code --dataplane ipvs}, containers behind each host's bridge,
 * an outside client — trimmed for TCG: one etcd member (on host 1), no container resolv.conf
 * ({@code /etc} is read-only in the guest; names are looked up with dig at the gateway), and
 * instances registered through each host agent's admin API with curl rather than a
 * {@code portolan register} JVM each.
 *
 * <p>{@code vote} is published on 8080 ({@code 8080:8000}) with instances in containers on hosts 1
 * and 2 (with {@code hosts 2}: on host 1 only). From the outside client, {@code http://HOST:8080/}
 * must reach every instance through every host, the host that runs none included (IPVS on that
 * host forwards over the underlay to another host's container and masquerades, so the reply comes
 * back through it); each host's IPVS table must hold the published port's fwmark service with
 * every instance and count the connections it forwarded; the VIP answers from a container.
 *
 * <p>Main: {@code IpvsMeshScenario [HOSTS]} (2 or 3, default 2); prints one line per step and
 * exits 0 when every check held.
 */
public final class IpvsMeshScenario {
    static final int PUBLISHED = 8080;
    static final int TARGET = 8000;
    static final int REQUESTS_PER_HOST = 20;
    static long t0 = System.nanoTime();

    private IpvsMeshScenario() {
    }

    public static void main(String[] args) {
        int hosts = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        boolean ok = runReported(hosts);
        System.out.flush();
        Runtime.getRuntime().halt(ok ? 0 : 1);
    }

    /** Runs the scenario, prints {@code IPVS MESH SCENARIO PASSED|FAILED}; true if it passed. */
    static boolean runReported(int hosts) {
        t0 = System.nanoTime();
        try {
            run(hosts);
            System.out.println("IPVS MESH SCENARIO PASSED in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            return true;
        } catch (Throwable e) {
            System.out.println("IPVS MESH SCENARIO FAILED: " + e);
            e.printStackTrace(System.out);
            return false;
        }
    }

    static void step(String what) {
        System.out.printf("[mesh %6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, what);
        System.out.flush();
    }

    static void run(int hostCount) {
        if (hostCount < 2 || hostCount > 3) {
            throw new IllegalArgumentException("hosts: 2 or 3, not " + hostCount);
        }
        step("fleet: " + hostCount + " hosts (ROUTED), one etcd member, --dataplane ipvs");
        Fleet.Options o = Fleet.options().hosts(hostCount).etcdMembers(1).layout(Fleet.Layout.ROUTED).plane(Fleet.Plane.IPVS)
                .containerResolvConf(false).startTimeout(Duration.ofMinutes(5))
                .agentFlags("--ipvs-min-sync-interval", "50ms")
                .javaOpts("-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx192m");
        try (Fleet fleet = Fleet.start(o)) {
            step("fleet up: agents ready");
            int withInstances = hostCount == 3 ? 2 : 1;
            List<String> names = new ArrayList<>();
            for (int i = 1; i <= withInstances; i++) {
                Host h = fleet.host(i);
                Container c = h.container("vote" + i);
                names.add(serve(fleet, c));
                register(h, c);
            }
            Set<String> want = Set.copyOf(names);
            step("registered " + names + " (published " + PUBLISHED + ":" + TARGET + ") through the hosts' admin APIs");

            Fleet.Client client = fleet.client();
            for (Host h : fleet.hosts()) {
                fleet.await(h.node + "'s IPVS: the published port's service with " + withInstances + " real servers",
                        Duration.ofSeconds(90), () -> realServers(h).size() == withInstances);
                fleet.await("http://" + h.underlay + ":" + PUBLISHED + "/ answers the outside client", Duration.ofSeconds(60),
                        () -> curlMany(client, "http://" + h.underlay + ":" + PUBLISHED + "/", 1).failures() == 0);
            }
            step("every host's IPVS holds the published port; each answers the outside client");
            Host idle = fleet.host(hostCount);
            step(idle.node + " (no instance) ipvsadm -S -n:\n" + idle.check("ipvsadm", "-S", "-n").strip());

            List<String> problems = new ArrayList<>();
            for (Host h : fleet.hosts()) {
                long before = forwarded(h);
                Fleet.Tally tally = curlMany(client, "http://" + h.underlay + ":" + PUBLISHED + "/", REQUESTS_PER_HOST);
                // the kernel folds its per-CPU counters into what ipvsadm reads every 2 s: wait for them
                long[] through = {0};
                try {
                    fleet.await(h.node + "'s IPVS counting " + REQUESTS_PER_HOST + " new connections", Duration.ofSeconds(15), () -> {
                        through[0] = forwarded(h) - before;
                        return through[0] >= REQUESTS_PER_HOST;
                    });
                } catch (AssertionError e) {
                    // reported below with the tally
                }
                step("through " + h.node + ": " + tally + "; IPVS connections on " + h.node + ": +" + through[0]);
                if (tally.failures() != 0 || !tally.answers().keySet().equals(want)) {
                    problems.add(h.node + ": " + tally);
                }
                if (through[0] < REQUESTS_PER_HOST) {
                    problems.add(h.node + ": its IPVS service counted " + through[0] + " new connections for " + REQUESTS_PER_HOST + " requests");
                }
            }
            if (!problems.isEmpty()) {
                throw new AssertionError("through every host, every instance and no failure: " + problems + "\n--- " + idle.node
                        + " ipvsadm -L -n --stats\n" + idle.run("ipvsadm", "-L", "-n", "--stats").out() + "\n--- " + idle.node
                        + " iptables-save\n" + idle.run("iptables-save").out());
            }

            // the published port is the mesh's, not a VIP's: the VIP answers too, from a container on the idle host
            Container probe = idle.container("probe");
            List<String> vip = probe.dig(idle.gateway, "vote." + Fleet.ZONE);
            if (vip.size() != 1) {
                throw new AssertionError("dig @" + idle.gateway + " vote." + Fleet.ZONE + " from " + probe + ": " + vip);
            }
            Fleet.Tally viaVip = curlMany(probe, "http://" + vip.get(0) + ":" + TARGET + "/", 10);
            step("VIP " + vip.get(0) + " from " + probe + ": " + viaVip);
            if (viaVip.failures() != 0 || !viaVip.answers().keySet().equals(want)) {
                throw new AssertionError("the VIP from a container on " + idle.node + ": " + viaVip);
            }
            step("closing the fleet");
        }
        step("fleet closed");
    }

    /**
     * busybox httpd in the container on {@code address:8000} answering the container's name (one
     * forked process per connection, each closed after its answer: every request a new connection);
     * cheaper under TCG than the harness's python server. Waits until it answers; returns the name.
     */
    static String serve(Fleet fleet, Container c) {
        java.nio.file.Path www = fleet.dir().resolve("www-" + c.name);
        try {
            java.nio.file.Files.createDirectories(www);
            java.nio.file.Files.writeString(www.resolve("index.html"), c.name + "\n");
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
        c.spawn(fleet.dir().resolve("httpd-" + c.name + ".log"), "busybox", "httpd", "-f", "-p", c.address + ":" + TARGET, "-h", www.toString());
        fleet.await(c.name + " serving on " + c.address + ":" + TARGET, Duration.ofSeconds(60),
                () -> c.name.equals(c.curl("http://" + c.address + ":" + TARGET + "/")));
        return c.name;
    }

    /**
     * {@code n} requests to {@code url} from {@code from} in one curl process (a JVM-free loop:
     * process starts are what costs under TCG), each bounded by 5 s to connect and 10 s in all:
     * the answers counted per body and the failures ({@code http_code} other than 200).
     */
    static Fleet.Tally curlMany(Fleet.Netns from, String url, int n) {
        List<String> argv = new ArrayList<>(List.of("curl", "-sS", "--connect-timeout", "5", "--max-time", "10", "-w", "\n=%{http_code}\n"));
        for (int i = 0; i < n; i++) {
            argv.add(url);
        }
        long t = System.nanoTime();
        Sh.Result r = from.run(Duration.ofSeconds(10L * n + 30), argv.toArray(String[]::new));
        java.util.Map<String, Integer> answers = new java.util.TreeMap<>();
        List<String> errors = new ArrayList<>();
        int ok = 0;
        String body = null;
        for (String line : r.out().split("\n")) {
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("=")) {
                if (line.equals("=200") && body != null) {
                    ok++;
                    answers.merge(body, 1, Integer::sum);
                }
                body = null;
            } else if (line.startsWith("curl:")) {
                if (errors.size() < 5) {
                    errors.add(line);
                }
            } else {
                body = line;
            }
        }
        return new Fleet.Tally(url, n, answers, n - ok, errors, (System.nanoTime() - t) / 1_000_000);
    }

    /** POST /v1/instances on the host's admin API: the container's address, port http:8000, published 8080:8000. */
    static void register(Host h, Container c) {
        String body = "{\"service\":\"vote\",\"id\":\"" + c.name + "\",\"address\":\"" + c.address
                + "\",\"ports\":[{\"name\":\"http\",\"port\":" + TARGET + ",\"protocol\":\"tcp\"}],\"ttl\":3600"
                + ",\"published\":[{\"published\":" + PUBLISHED + ",\"target\":" + TARGET + ",\"protocol\":\"tcp\"}]}";
        Sh.Result r = h.run(Duration.ofSeconds(30), "curl", "-sS", "--fail-with-body", "--max-time", "20", "-H",
                "Content-Type: application/json", "--data-binary", body, Fleet.ADMIN + "/v1/instances");
        if (!r.ok()) {
            throw new AssertionError("register " + c + " on " + h.node + ": " + r);
        }
    }

    private static final Pattern PUBLISHED_RULE = Pattern.compile(
            "-A PORTOLAN-IPVS -p tcp -m addrtype --dst-type LOCAL -m tcp --dport " + PUBLISHED + " -j MARK --set-xmark 0x([0-9a-f]+)/");

    /** The fwmark of the published port's mangle rule on this host, or -1. */
    static long mark(Host h) {
        Sh.Result r = h.run("iptables-save", "-t", "mangle");
        Matcher m = PUBLISHED_RULE.matcher(r.out());
        return r.ok() && m.find() ? Long.parseLong(m.group(1), 16) : -1;
    }

    /** Real servers (address:port) of the published port's fwmark service in this host's IPVS table. */
    static List<String> realServers(Host h) {
        long mark = mark(h);
        List<String> out = new ArrayList<>();
        if (mark < 0) {
            return out;
        }
        for (String line : h.run("ipvsadm", "-S", "-n").out().split("\n")) {
            String[] t = line.trim().split("\\s+");
            if (t.length >= 5 && t[0].equals("-a") && t[1].equals("-f") && t[2].equals(String.valueOf(mark))) {
                out.add(t[4]);
            }
        }
        return out;
    }

    /** Connections the published port's fwmark service has forwarded on this host so far ({@code ipvsadm -L --stats}). */
    static long forwarded(Host h) {
        long mark = mark(h);
        Sh.Result r = h.run("ipvsadm", "-L", "-n", "--stats", "--exact", "-f", String.valueOf(mark));
        for (String line : r.out().split("\n")) {
            String[] t = line.trim().split("\\s+");
            if (t.length >= 3 && t[0].equals("FWM") && t[1].equals(String.valueOf(mark))) {
                return Long.parseLong(t[2]);
            }
        }
        throw new AssertionError(h.node + ": no stats for fwmark " + mark + ": " + r);
    }
}
