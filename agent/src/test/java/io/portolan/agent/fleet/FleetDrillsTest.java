package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import io.portolan.agent.fleet.Fleet.Registration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Failure drills on one shared fleet (3 hosts, ROUTED, nftables), each under bounded load from
 * containers ({@link LoadClient}: a DNS look-up of the service name per request, then a new
 * connection and a GET with a timeout). Services, all with {@code --ttl 5}, each instance
 * registered through its host's agent by {@code portolan register ... -- COMMAND} wrapping the
 * instance's HTTP server: {@code web} (vip, port 8000) and {@code rr} (dnsrr, port 8001), one
 * instance of each in container {@code srvN} on every host; load clients {@code cliN} on every host.
 *
 * <ul>
 * <li>5a: {@code kill -9} of host 3's agent while cli3 sends requests by name, the agent run under
 *     the socket holder (DNS sockets held outside it, restarted after 1 s as Restart=always/
 *     RestartSec=1s would): 0 failed requests, look-ups included; a connection established before
 *     the kill goes on; the restarted agent adopts the nftables table. The same without held
 *     sockets, for the evidence: the failures are counted (only look-ups may fail).
 * <li>5b: the etcd leader's member stopped: 0 failures anywhere, no instance missing from any DNS,
 *     no host lease lost; an instance registered through the agent of the host whose member is down
 *     appears on every host.
 * <li>5c: every etcd member stopped for {@link #ALL_ETCD_OUTAGE}: every agent keeps answering
 *     every name and routing every VIP (0 failures until etcd returns); a new register exits 1
 *     naming the 503, the API answers 503; running registrants keep heartbeating; after etcd
 *     returns, registration works, every instance is on every host, and an instance whose TTL
 *     ran out (its registrant paused across etcd's return: its agent deletes it) is put again by its
 *     registrant's next heartbeat. etcd expires no lease while it has no leader, and a new leader gives every lease
 *     TTL + its election timeout: leases expire after the return, when an agent reaches etcd late.
 * <li>5d: a host cut off the underlay (the bridge side of its veth down): its instances leave the
 *     other hosts' DNS answers and nftables maps within TTL + 2 s (TTL + 4 s when its member led),
 *     nothing else leaves, no failure once they left, and they come back, without a restart, when
 *     the link returns. Once with a host whose etcd member is a follower, once with the leader's.
 *     Every agent is held to that bound, also one whose watch stream the cut member served (it
 *     moves to another member after 3 s without an answer to its progress requests); no host
 *     still connected loses its node's lease. A request counts as after they left when it started after the monitor's
 *     look that first saw them gone had ended (a look that failed is not "gone"). A new connection may reuse the source
 *     port of one that went to the cut host before (the load client's kernel does, to the VIP too, within seconds):
 *     the nftables plane deletes such SYN_SENT conntrack entries of removed backends (lb/README.md, "Removed backends
 *     and conntrack"); failures after they left are printed with their source port and conntrack entry.
 * </ul>
 * One fleet for all drills: each starts from the same checked baseline (every member healthy,
 * every agent running, every link up, both services with 3 instances on every host's DNS and
 * nftables) and puts back what it changed in a finally block. Numbers are printed as
 * {@code drill 5x: ...} lines (surefire's -output.txt).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FleetDrillsTest {
    /** Every registration's --ttl (seconds). */
    static final int TTL = 5;
    /** 5c: how long every etcd member stays down. */
    static final Duration ALL_ETCD_OUTAGE = Duration.ofSeconds(60);
    static final String ZONE = Fleet.ZONE;

    Fleet fleet;
    final Container[] srv = new Container[4];
    final Container[] cli = new Container[4];
    final Map<String, Registration> registrations = new LinkedHashMap<>();
    final List<String> report = new ArrayList<>();
    long t0;

    // ------------------------------------------------------------------ the shared fleet

    @BeforeAll
    void startFleet() {
        t0 = System.nanoTime();
        fleet = Fleet.start(Fleet.options().hosts(3).layout(Fleet.Layout.ROUTED).plane(Fleet.Plane.NFTABLES));
        try {
            for (int i = 1; i <= 3; i++) {
                srv[i] = fleet.host(i).container("srv" + i);
                cli[i] = fleet.host(i).container("cli" + i);
            }
            List<Registration> started = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                started.add(serve(fleet.host(i), srv[i], "web", "web" + i, 8000));
                started.add(serve(fleet.host(i), srv[i], "rr", "rr" + i, 8001, "--mode", "dnsrr"));
            }
            for (Registration r : started) {
                r.await();
                registrations.put(r.id, r);
            }
            for (int i = 1; i <= 3; i++) {
                Container s = srv[i];
                int n = i;
                fleet.await(s.name + " serving web and rr", Duration.ofSeconds(30),
                        () -> ("web" + n).equals(s.host.curl("http://" + s.address + ":8000/"))
                                && ("rr" + n).equals(s.host.curl("http://" + s.address + ":8001/")));
            }
            awaitBaseline("fleet set up");
            note("fleet up with web (vip) and rr (dnsrr), 3 instances each, in %d ms", ms(System.nanoTime() - t0));
        } catch (RuntimeException | Error e) {
            try {
                fleet.close();
            } catch (RuntimeException closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
    }

    @AfterAll
    void stopFleet() {
        try {
            String keep = System.getProperty("fleet.drills.keep");
            if (fleet != null && keep != null && !keep.isBlank()) {
                // -Dfleet.drills.keep=DIR: a copy of the fleet's logs (agents, etcd, registrants, holders, loads) for reading later
                Sh.Result r = Sh.run(List.of("cp", "-a", fleet.dir().toString(), keep), Duration.ofSeconds(60));
                System.out.println("fleet drills: logs copied to " + keep + ": " + r);
            }
        } finally {
            if (fleet != null) {
                fleet.close();
            }
            System.out.println("=== fleet drills (" + ms(System.nanoTime() - t0) + " ms with teardown) ===");
            report.forEach(System.out::println);
        }
    }

    @BeforeEach
    void baseline() {
        awaitBaseline("baseline");
    }

    // ------------------------------------------------------------------ 5a

    @Test
    @Order(1)
    void drill5a_killNineAgent_underLoadByName_heldSocketsLoseNothing() {
        long d0 = System.nanoTime();
        Host h = fleet.host(3);
        Container c = cli[3];
        Map<String, KillRun> runs = new LinkedHashMap<>();
        h.stopAgent();
        try {
            for (String mode : List.of("held", "none")) {
                runs.put(mode, killNineRun(h, c, mode));
            }
        } finally {
            if (!h.agentRunning()) {
                h.startAgent();
            }
        }
        KillRun held = runs.get("held");
        KillRun none = runs.get("none");
        for (KillRun r : runs.values()) {
            note("drill 5a (%s sockets): kill -9 of %s's agent at %d ms into the load; agent %d -> %d, /readyz again after %d ms; %s;"
                            + " nftables table %s across the restart",
                    r.mode, h.node, r.killAtMs, r.killed, r.restarted, r.readyAfterMs, r.load.summary(),
                    r.sameTable ? "adopted (same table, maps and chains, same content)" : "NOT ADOPTED");
        }
        note("drill 5a: %d ms", ms(System.nanoTime() - d0));

        // the premise: the held run's two agents served the holder's sockets, the other run's bound their own
        assertEquals(2, held.inheritedUdpServed, "both held agents served the inherited UDP socket on " + h.gateway + ":53");
        assertEquals(0, none.inheritedUdpServed, "no inherited socket without the holder's");
        // with the holder: nothing lost, look-ups included
        assertEquals(held.load.count(), held.load.sent(), "every request sent: " + held.load.summary());
        assertEquals(0, held.load.failed(), "failed requests with held sockets: " + held.load.firstFailures(20));
        assertTrue(held.load.establishedFailures().isEmpty() && held.load.establishedConnects() == 1 && held.load.establishedOk() > 50,
                "the connection established before the kill carried on: " + held.load.summary() + " " + held.load.firstFailures(10));
        assertTrue(held.load.maxDnsMs() >= 300, "look-ups waited for the restarted agent (longest " + held.load.maxDnsMs()
                + " ms): the kill left no gap under load?");
        // both runs: the kernel plane carried on and was adopted; without held sockets only look-ups failed
        for (KillRun r : runs.values()) {
            assertEquals(-9, r.exitCode, r.mode + ": the agent died of SIGKILL");
            assertTrue(r.sameTable, r.mode + ": the restarted agent adopted the table\nbefore:\n" + r.tableBefore
                    + "\nafter:\n" + r.tableAfter);
            assertTrue(r.load.nonDns().isEmpty(), r.mode + ": only look-ups may fail: " + r.load.nonDns());
            assertTrue(r.load.establishedFailures().isEmpty() && r.load.establishedConnects() == 1,
                    r.mode + ": established connection: " + r.load.summary());
            // web through the VIP reaches every instance; rr (dnsrr) answers, though glibc's getaddrinfo sorts the
            // container's own subnet first (RFC 6724 rule 9, applied to IPv4 too), so it is always rr3 from cli3
            assertTrue(r.load.answers().keySet().containsAll(Set.of("web1", "web2", "web3", "rr3")),
                    r.mode + ": every web instance answered, and rr: " + r.load.answers());
        }
        assertEquals(none.load.count(), none.load.sent(), "every request sent without the holder too: " + none.load.summary());
    }

    record KillRun(String mode, long killAtMs, long killed, long restarted, int exitCode, long readyAfterMs, LoadClient.Result load,
                   boolean sameTable, String tableBefore, String tableAfter, int inheritedUdpServed) {
    }

    /** One kill -9 of the agent under the holder in {@code mode}, under load from {@code c}. */
    KillRun killNineRun(Host h, Container c, String mode) {
        try (HeldAgent agent = HeldAgent.start(h, mode, 3, Duration.ofSeconds(1))) {
            awaitBaseline("5a " + mode + ": " + h.node + "'s agent under the holder");
            String before = table(h);
            int syncs = count(Sh.tail(agent.log, 10_000_000), "nftables: revision ");
            LoadClient load = LoadClient.start(c, "5a-" + mode, LoadClient.spec()
                    .url("http://web:8000/", "http://rr:8001/")
                    .requests(300, Duration.ofMillis(50), Duration.ofSeconds(40)).workers(4)
                    .established("http://web:8000/"));
            Fleet.sleep(4_000);
            long killAt = System.currentTimeMillis();
            long first = agent.killAgent();
            long second = agent.awaitRestarted(first, Duration.ofSeconds(60));
            long readyAfter = System.currentTimeMillis() - killAt;
            int code = fleet.await(h.node + ": the holder saw agent " + first + " exit", Duration.ofSeconds(10), () -> agent.exitCode(first));
            // the restarted agent's first (full) sync read the kernel's table and diffed against it
            fleet.await(h.node + ": the restarted agent synced the nftables table", Duration.ofSeconds(30),
                    () -> count(Sh.tail(agent.log, 10_000_000), "nftables: revision ") > syncs);
            LoadClient.Result r = load.await();
            String after = table(h);
            int inherited = count(Sh.tail(agent.log, 10_000_000), "DNS: serving inherited socket udp " + h.gateway + ":53");
            return new KillRun(mode, killAt - r.startEpochMs(), first, second, code, readyAfter, r, adopted(before, after), before, after,
                    inherited);
        }
    }

    /** {@code nft -a list table ip portolan} without counters. */
    static String table(Host h) {
        Sh.Result r = h.run("nft", "-a", "list", "table", "ip", "portolan");
        assertTrue(r.ok(), r.toString());
        return r.out().replaceAll("counter packets \\d+ bytes \\d+", "counter");
    }

    /**
     * Whether {@code after} is {@code before} adopted (lb/README.md, "Restarts and cleanup"): the same
     * table, maps, sets and chains (same handles: nothing deleted and made again, no flush of the
     * table) with the same content (rules and map elements); the fixed chains' rules are rewritten by
     * design (flush + rules in one transaction), so rule handles may differ.
     */
    static boolean adopted(String before, String after) {
        return objectHandles(before).equals(objectHandles(after)) && withoutHandles(before).equals(withoutHandles(after));
    }

    static List<String> objectHandles(String table) {
        List<String> l = new ArrayList<>();
        for (String line : table.split("\n")) {
            String t = line.strip();
            if (t.matches("(table|map|set|chain) .*# handle \\d+")) {
                l.add(t);
            }
        }
        return l;
    }

    static String withoutHandles(String table) {
        return table.replaceAll(" # handle \\d+", "");
    }

    // ------------------------------------------------------------------ 5b

    @Test
    @Order(2)
    void drill5b_oneEtcdMemberDown_noEffect_registrationWorks() {
        long d0 = System.nanoTime();
        int leader = etcdLeader();
        Host down = fleet.host(leader);
        Container late = down.container("late");
        Map<String, Integer> lossesBefore = leaseLosses();
        List<Monitor> monitors = monitors(fleet.hosts(), 200, Duration.ofSeconds(90));
        List<LoadClient> loads = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            loads.add(LoadClient.start(cli[i], "5b-" + i, LoadClient.spec().url("http://web:8000/", "http://rr:8001/")
                    .requests(400, Duration.ofMillis(50), Duration.ofSeconds(45)).workers(3)));
        }
        Registration reg = null;
        long registeredMs;
        long everywhereMs;
        long downFor;
        long stopAt;
        try {
            Fleet.sleep(2_000);
            stopAt = System.currentTimeMillis();
            fleet.stopEtcd(leader);
            long r0 = System.nanoTime();
            reg = serve(down, late, "late", "late1", 8002).await();
            registeredMs = ms(System.nanoTime() - r0);
            Set<String> one = Set.of(late.address);
            for (Host h : fleet.hosts()) {
                fleet.await("late on " + h.node + " (DNS, nftables, HTTP through the VIP) with " + down.node + "'s etcd member down",
                        Duration.ofSeconds(30), () -> dnsIs(h, "tasks.late", one) && nftHas(h, late.address)
                                && "late1".equals(cli[h.index].curl("http://late:8002/")));
            }
            everywhereMs = ms(System.nanoTime() - r0);
            // keep the member down while the load runs on, then bring it back
            Fleet.sleep(Math.max(0, 10_000 - (System.currentTimeMillis() - stopAt)));
            downFor = System.currentTimeMillis() - stopAt;
            fleet.startEtcd(leader);
        } finally {
            if (!down.etcdRunning()) {
                fleet.startEtcd(leader);
            }
        }
        List<LoadClient.Result> results = loads.stream().map(LoadClient::await).toList();
        long end = System.currentTimeMillis();
        monitors.forEach(Monitor::close);
        if (reg != null) {
            reg.close(); // deregisters
            for (Host h : fleet.hosts()) {
                fleet.await("late gone from " + h.node + " after its registrant stopped", Duration.ofSeconds(30),
                        () -> dnsIs(h, "tasks.late", Set.of()));
            }
        }
        Map<String, List<String>> gaps = gaps(monitors, allServers(), stopAt, end);
        Map<String, Integer> losses = since(lossesBefore, leaseLosses());
        note("drill 5b: stopped the etcd leader's member (%s) for %d ms; 'late' registered through %s's agent in %d ms, on every host"
                + " (DNS, nftables, HTTP) %d ms after the register started", down.node, downFor, down.node, registeredMs, everywhereMs);
        note("drill 5b: web and rr instances missing from a host's DNS meanwhile: %s (sampled every ~%d ms); host leases lost: %s",
                gaps, monitors.get(0).meanIntervalMs(stopAt, end), losses);
        results.forEach(r -> note("drill 5b: load %s", r.summary()));
        note("drill 5b: %d ms", ms(System.nanoTime() - d0));
        for (LoadClient.Result r : results) {
            assertEquals(r.count(), r.sent(), r.summary());
            assertEquals(0, r.failed(), "failures with one etcd member down: " + r.where() + " " + r.firstFailures(20));
        }
        assertTrue(gaps.isEmpty(), "no instance left any host's DNS: " + gaps);
        assertTrue(losses.isEmpty(), "no host lease was lost: " + losses);
    }

    // ------------------------------------------------------------------ 5c

    @Test
    @Order(3)
    void drill5c_allEtcdMembersDown_agentsServe_registrantsRetry_andConverge() {
        long d0 = System.nanoTime();
        Host h1 = fleet.host(1);
        Host h2 = fleet.host(2);
        Host h3 = fleet.host(3);
        Container lapseC = h2.container("lapse");
        Registration lapse = serve(h2, lapseC, "lapse", "lapse1", 8003, "--mode", "dnsrr").await();
        Set<String> lapseSet = Set.of(lapseC.address);
        for (Host h : fleet.hosts()) {
            fleet.await("lapse on " + h.node, Duration.ofSeconds(30), () -> dnsIs(h, "lapse", lapseSet));
        }
        Map<String, Long> leasesBefore = instanceLeases();
        Map<String, Integer> warningsBefore = heartbeatWarnings();
        long outage = ALL_ETCD_OUTAGE.toMillis();
        int requests = (int) ((outage + 35_000) / 200);
        List<Monitor> monitors = monitors(fleet.hosts(), 250, Duration.ofMillis(outage + 120_000));
        List<LoadClient> loads = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            loads.add(LoadClient.start(cli[i], "5c-" + i, LoadClient.spec().url("http://web:8000/", "http://rr:8001/")
                    .requests(requests, Duration.ofMillis(200), Duration.ofMillis(outage + 60_000)).workers(2)));
        }
        Registration after = null;
        boolean paused = false;
        Map<String, Integer> warnings = new TreeMap<>();
        Map<String, Object> m = new LinkedHashMap<>();
        Map<String, Long> watchBack = new TreeMap<>();
        long down = 0;
        long back = 0;
        long converged = 0;
        try {
            Fleet.sleep(3_000);
            down = System.currentTimeMillis();
            for (int n = 1; n <= 3; n++) {
                fleet.stopEtcd(n);
            }
            m.put("members stopped in ms", System.currentTimeMillis() - down);
            Fleet.sleep(3_000);

            // a new registration fails, clearly, and the API says 503
            long r0 = System.nanoTime();
            Registration refused = h1.startRegistration("--service", "newcomer", "--address", srv[1].address, "--port", "http:8009",
                    "--ttl", String.valueOf(TTL), "--id", "newcomer1");
            int code = exitCode(refused, Duration.ofSeconds(40));
            String refusedText = Sh.tail(refused.log, 10_000).strip();
            m.put("new register: exit", code);
            m.put("new register: ms", ms(System.nanoTime() - r0));
            m.put("new register: says", refusedText);
            assertEquals(1, code, "register during the outage: " + refusedText);
            assertTrue(refusedText.contains("503") && refusedText.contains("etcd"), "the error names the 503 and etcd: " + refusedText);
            Sh.Result api = h2.run(Duration.ofSeconds(20), "curl", "-sS", "--max-time", "15", "-o", "/dev/stderr", "-w", "%{http_code}",
                    "-X", "POST", "-H", "Content-Type: application/json", "--data",
                    "{\"service\":\"newcomer\",\"address\":\"" + srv[2].address + "\",\"ports\":[{\"name\":\"http\",\"port\":8009}],\"ttl\":5}",
                    Fleet.ADMIN + "/v1/instances");
            m.put("POST /v1/instances", api.out().strip());
            assertTrue(api.out().strip().endsWith("503") && api.out().contains("\"error\""), "the API answers 503: " + api);
            for (Host h : fleet.hosts()) {
                String s = h.admin("/v1/services");
                assertTrue(s != null && s.contains("\"web\"") && s.contains("\"rr\""), h.node + " still lists its services: " + s);
            }

            // the registrant of lapse stops heartbeating from just before etcd returns: its TTL must run out after the return
            sleepUntil(down + outage - 2_000);
            signal(lapse, "STOP");
            paused = true;
            sleepUntil(down + outage);
            for (Registration r : registrations.values()) {
                assertTrue(r.alive(), r.id + "'s registrant kept running through the outage: " + Sh.tail(r.log, 2000));
            }
            heartbeatWarnings().forEach((k, v) -> warnings.put(k, v - warningsBefore.getOrDefault(k, 0)));
            m.put("heartbeat warnings per registrant during the outage", warnings);

            // etcd returns
            back = System.currentTimeMillis();
            for (int n = 1; n <= 3; n++) {
                fleet.host(n).startEtcd();
            }
            for (int n = 1; n <= 3; n++) {
                fleet.host(n).awaitEtcd();
            }
            m.put("all members stopped for ms", back - down);
            m.put("etcd healthy after ms", System.currentTimeMillis() - back);
            // registration works again, through every agent's write path to every agent's DNS
            long a0 = System.currentTimeMillis();
            after = fleet.await("a registration accepted after etcd's return", Duration.ofSeconds(60), () -> {
                Registration r = h3.startRegistration("--service", "after", "--mode", "dnsrr", "--address", srv[3].address,
                        "--port", "http:8001", "--ttl", String.valueOf(TTL), "--id", "after3");
                if (exitCodeOrRunning(r, Duration.ofSeconds(20)) == null) {
                    return r.await();
                }
                return null;
            });
            m.put("first registration through host3's agent accepted after ms (since etcd started)", System.currentTimeMillis() - back);
            Set<String> afterSet = Set.of(srv[3].address);
            for (Host h : fleet.hosts()) {
                fleet.await("after on " + h.node, Duration.ofSeconds(30), () -> dnsIs(h, "after", afterSet));
            }
            m.put("after on every host in ms (since its register started)", System.currentTimeMillis() - a0);

            // the paused registrant's TTL runs out after the return (its agent deletes the key); once it runs again, its
            // heartbeat puts the key again
            awaitMs("lapse gone from every host (its registrant is paused)", Duration.ofSeconds(TTL + 30),
                    () -> fleet.hosts().stream().allMatch(h -> dnsIs(h, "lapse", Set.of())));
            m.put("lapse (paused registrant) gone from every host after ms (since etcd started)", System.currentTimeMillis() - back);
            long cont = System.currentTimeMillis();
            signal(lapse, "CONT");
            paused = false;
            awaitMs("lapse back on every host after its registrant resumed", Duration.ofSeconds(30),
                    () -> fleet.hosts().stream().allMatch(h -> dnsIs(h, "lapse", lapseSet)));
            m.put("lapse back on every host after ms (since SIGCONT)", System.currentTimeMillis() - cont);
            assertTrue(Sh.tail(h2.agentLog(), 2_000_000).contains("instance lapse/lapse1 had expired"),
                    "h2's agent put lapse1 again when a heartbeat came after its TTL had run out");

            // every instance of web and rr is on every host
            Set<String> all = allServers();
            for (Host h : fleet.hosts()) {
                fleet.await("web and rr on " + h.node + " after the outage", Duration.ofSeconds(30),
                        () -> dnsIs(h, "tasks.web", all) && dnsIs(h, "rr", all));
            }
            converged = System.currentTimeMillis();
            Map<String, Long> leasesAfter = instanceLeases();
            List<String> reput = new ArrayList<>();
            leasesBefore.forEach((k, v) -> {
                if (!v.equals(leasesAfter.get(k))) {
                    reput.add(k.substring(k.indexOf("instances/") + "instances/".length()));
                }
            });
            m.put("instances put again under a new host lease (before -> after)", reput);
            Map<String, Long> lastFailed = new TreeMap<>();
            for (Registration r : registrations.values()) {
                List<Long> t = logTimes(r.log, "heartbeat for ");
                lastFailed.put(r.id, t.isEmpty() ? null : t.get(t.size() - 1) - back);
            }
            m.put("each registrant's last failed heartbeat, ms after etcd started (its agent reached etcd by the next one, 1.7 s later)",
                    lastFailed);
            // each agent's own way back: its registry watch answering again, its host lease's keep-alive working again
            Map<String, Long> nodeBack = new TreeMap<>();
            for (Host h : fleet.hosts()) {
                watchBack.put(h.node, firstAfter(logTimes(h.agentLog(), "registry: watch of ", " answers again"), back) - back);
                nodeBack.put(h.node, firstAfter(logTimes(h.agentLog(), "node " + h.node + ": keep-alive works again"), back) - back);
            }
            m.put("each agent's registry watch answering again, ms after etcd started", watchBack);
            m.put("each agent's host lease keep-alive working again, ms after etcd started (tried every TTL/3, 1.7 s)", nodeBack);
        } finally {
            if (paused) {
                signal(lapse, "CONT");
            }
            List<Integer> stopped = new ArrayList<>();
            for (int n = 1; n <= 3; n++) {
                if (!fleet.host(n).etcdRunning()) {
                    fleet.host(n).startEtcd();
                    stopped.add(n);
                }
            }
            for (int n : stopped) {
                fleet.host(n).awaitEtcd();
            }
        }
        List<LoadClient.Result> results = loads.stream().map(LoadClient::await).toList();
        long end = System.currentTimeMillis();
        monitors.forEach(Monitor::close);
        lapse.close();
        if (after != null) {
            after.close();
        }
        Map<String, List<String>> gapsDuring = gaps(monitors, allServers(), down, back);
        Map<String, List<String>> gapsAfter = gaps(monitors, allServers(), back, end);
        m.put("web and rr instances missing from a host's DNS during the outage", gapsDuring);
        m.put("web and rr instances missing from a host's DNS after etcd started (START+DURATION ms after it started; sampled every ~"
                + monitors.get(0).meanIntervalMs(back, end) + " ms)", gapsAfter);
        m.put("all checks done after ms (since etcd started)", converged - back);
        m.forEach((k, v) -> note("drill 5c: %s: %s", k, v));
        for (LoadClient.Result r : results) {
            List<LoadClient.Failure> afterReturn = r.between(back, Long.MAX_VALUE);
            note("drill 5c: load %s; failed after etcd started: %d %s", r.summary(), afterReturn.size(),
                    afterReturn.stream().limit(5).toList());
        }
        note("drill 5c: %d ms", ms(System.nanoTime() - d0));
        for (Registration r : registrations.values()) {
            assertTrue(warnings.getOrDefault(r.id, 0) >= 5, r.id + " kept retrying its heartbeats during the outage: " + warnings);
        }
        for (LoadClient.Result r : results) {
            assertEquals(r.count(), r.sent(), r.summary());
            assertTrue(r.lastAtMs() + r.startEpochMs() > back + 10_000, "the load ran on well after etcd returned: " + r.summary());
            List<LoadClient.Failure> untilReturn = r.between(0, back);
            assertTrue(untilReturn.isEmpty(), "failures before etcd returned: " + r.where() + " " + untilReturn.stream().limit(20).toList());
            // and after it: no agent reaches etcd so late that a running registrant's lease expires (below)
            List<LoadClient.Failure> afterReturn = r.between(back, Long.MAX_VALUE);
            assertTrue(afterReturn.isEmpty(), "failures after etcd returned: " + r.where() + " " + afterReturn.stream().limit(20).toList());
        }
        assertTrue(gapsDuring.isEmpty(), "every agent kept answering every instance while etcd was down: " + gapsDuring);
        // Converging after the return: a new leader gives every lease TTL + its election timeout, so an agent must be back
        // (its watch answering, its registrants' heartbeats through) within TTL of etcd's start, or instances leave.
        watchBack.forEach((node, ms) -> assertTrue(ms >= 0 && ms <= TTL * 1000L,
                node + "'s registry watch answered again " + ms + " ms after etcd started, not within TTL (" + TTL + " s): " + watchBack));
        assertTrue(gapsAfter.isEmpty(), "no web or rr instance left any host after etcd returned (every agent was back within TTL): "
                + gapsAfter);
    }

    // ------------------------------------------------------------------ 5d

    @Test
    @Order(4)
    void drill5d_hostCutOff_instancesLeaveWithinTtlPlus2_andComeBack() {
        long d0 = System.nanoTime();
        List<String> problems = new ArrayList<>();
        for (boolean leaderCase : List.of(false, true)) {
            int leader = etcdLeader(); // asked again: the first cut's return may have moved the leadership
            int x = leaderCase ? leader : leader == 1 ? 2 : 1;
            problems.addAll(cutCycle(x, leaderCase));
            awaitBaseline("after cutting " + fleet.host(x).node + " off");
        }
        note("drill 5d: %d ms", ms(System.nanoTime() - d0));
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /**
     * Cuts host x off the underlay, measures, brings it back; returns what was not as it should be.
     * Bound for x's instances to leave the others: TTL + 2 s; when x's member led etcd, TTL + 4 s:
     * the other two elect a leader (election timeout 1 s, randomized up to 2 s) and a new leader
     * gives every lease TTL + its election timeout again (etcd's lessor Promote), so no client of
     * etcd leases sees an expiry sooner there.
     */
    List<String> cutCycle(int x, boolean leader) {
        Host hx = fleet.host(x);
        String gone = srv[x].address;
        List<Host> others = fleet.hosts().stream().filter(h -> h != hx).toList();
        Set<String> healthy = new HashSet<>();
        others.forEach(h -> healthy.add(srv[h.index].address));
        long bound = (TTL + (leader ? 4 : 2)) * 1000L;
        String label = "drill 5d (" + hx.node + " cut off, its etcd member " + (leader ? "the leader" : "a follower") + ")";
        Path agentLog = hx.agentLog();
        Map<String, Integer> lossesBefore = leaseLosses();
        Map<String, Integer> nodeLossesBefore = leaseLosses("node");
        List<Monitor> monitors = monitors(others, 50, Duration.ofSeconds(120));
        List<LoadClient> loads = new ArrayList<>();
        for (Host h : others) {
            loads.add(LoadClient.start(cli[h.index], "5d-" + x + "-" + h.index, LoadClient.spec().url("http://web:8000/", "http://rr:8001/")
                    .requests(400, Duration.ofMillis(100), Duration.ofSeconds(70)).workers(4)));
        }
        long cut = 0;
        long up = 0;
        long end;
        List<String> problems = new ArrayList<>();
        try {
            Fleet.sleep(2_000);
            cut = System.currentTimeMillis();
            link(x, false);
            long c = cut;
            fleet.await(hx.node + "'s instances gone from the other hosts' DNS and nftables", Duration.ofSeconds(3L * TTL + 20),
                    () -> monitors.stream().allMatch(mo -> mo.firstAt(c, s -> s.dnsLacks("tasks.web", gone) && s.dnsLacks("rr", gone)
                            && s.nftLacks(gone)) > 0));
            Fleet.sleep(3_000); // cut off a little longer: no failure once its instances are gone
            up = System.currentTimeMillis();
            link(x, true);
            long u = up;
            fleet.await(hx.node + "'s instances back in the other hosts' DNS and nftables", Duration.ofSeconds(60),
                    () -> monitors.stream().allMatch(mo -> mo.firstAt(u, s -> s.dnsHas("tasks.web", gone) && s.dnsHas("rr", gone)
                            && s.nft().contains(gone)) > 0));
            Fleet.sleep(3_000); // and a little after: the others stay
        } catch (AssertionError e) {
            problems.add(label + ": " + e.getMessage().lines().findFirst().orElse(""));
        } finally {
            link(x, true);
            end = System.currentTimeMillis();
            monitors.forEach(Monitor::close);
        }
        List<LoadClient.Result> results = loads.stream().map(LoadClient::await).toList();
        Map<String, Long> removed = new TreeMap<>();
        Map<String, Long> goneSeenAt = new TreeMap<>();
        Map<String, Long> goneRoundStartAt = new TreeMap<>();
        Map<String, Long> returned = new TreeMap<>();
        for (Monitor mo : monitors) {
            long c = cut;
            long u = up;
            removed.put(mo.host.node + " DNS tasks.web", since(c, mo.firstAt(c, s -> s.dnsLacks("tasks.web", gone))));
            removed.put(mo.host.node + " DNS rr", since(c, mo.firstAt(c, s -> s.dnsLacks("rr", gone))));
            removed.put(mo.host.node + " nftables", since(c, mo.firstAt(c, s -> s.nftLacks(gone))));
            // when the look that first saw them gone had ended: a request started after that cannot have met them
            long seenGone = Math.max(mo.firstEndAt(c, s -> s.dnsLacks("tasks.web", gone)),
                    Math.max(mo.firstEndAt(c, s -> s.dnsLacks("rr", gone)), mo.firstEndAt(c, s -> s.nftLacks(gone))));
            goneSeenAt.put(mo.host.node, seenGone < 0 ? Long.MAX_VALUE : seenGone);
            // (how this drill used to count: from the start of the first round without them, a failed look counting as gone)
            long oldGone = Math.max(mo.firstAt(c, s -> !s.dnsHas("tasks.web", gone)),
                    Math.max(mo.firstAt(c, s -> !s.dnsHas("rr", gone)), mo.firstAt(c, s -> !s.nft().contains(gone))));
            goneRoundStartAt.put(mo.host.node, oldGone < 0 ? Long.MAX_VALUE : oldGone);
            returned.put(mo.host.node + " DNS tasks.web", since(u, mo.firstAt(u, s -> s.dnsHas("tasks.web", gone))));
            returned.put(mo.host.node + " DNS rr", since(u, mo.firstAt(u, s -> s.dnsHas("rr", gone))));
            returned.put(mo.host.node + " nftables", since(u, mo.firstAt(u, s -> s.nft().contains(gone))));
        }
        Map<String, List<String>> healthyGaps = gaps(monitors, healthy, cut, end);
        Map<String, Integer> losses = since(lossesBefore, leaseLosses());
        Map<String, Integer> nodeLosses = since(nodeLossesBefore, leaseLosses("node"));
        Map<String, List<String>> watchMoves = new TreeMap<>();
        for (Host h : others) {
            watchMoves.put(h.node, watchMoves(h.agentLog(), cut, end));
        }
        note("%s: %s's instances (%s) left: %s (ms after the cut; -1: not seen), bound %d ms", label, hx.node, gone, removed, bound);
        note("%s: link up %d ms after the cut; back: %s (ms after the link came up)", label, up - cut, returned);
        note("%s: other hosts' instances missing from a host's DNS: %s (START+DURATION ms after the cut; sampled every ~%d ms);"
                + " host leases lost (per host agent): %s; node leases lost: %s; the other hosts' registry watches that left a"
                + " member (ms after the cut: why): %s", label, healthyGaps, monitors.get(0).meanIntervalMs(cut, end), losses, nodeLosses,
                watchMoves);
        removed.forEach((k, v) -> {
            if (v < 0 || v > bound) {
                problems.add(label + ": " + k + " left after " + v + " ms, not within " + bound + " ms (the other hosts' registry watches"
                        + " that left a member, ms after the cut: " + watchMoves + ")");
            }
        });
        for (Host h : others) {
            if (nodeLosses.keySet().stream().anyMatch(k -> k.startsWith(h.node + " "))) {
                problems.add(label + ": " + h.node + ", still connected, lost its host lease (its node's): " + nodeLosses);
            }
        }
        returned.forEach((k, v) -> {
            if (v < 0) {
                problems.add(label + ": " + k + " did not come back within 60 s of the link coming up");
            }
        });
        if (!healthyGaps.isEmpty()) {
            problems.add(label + ": instances of the hosts still connected left the DNS answers: " + healthyGaps
                    + "; host leases lost: " + losses);
        }
        for (int i = 0; i < others.size(); i++) {
            Host h = others.get(i);
            LoadClient.Result r = results.get(i);
            long goneAt = goneSeenAt.get(h.node);
            List<LoadClient.Failure> afterGone = r.between(goneAt, Long.MAX_VALUE);
            if (!afterGone.isEmpty()) {
                note("%s: %s: failures after %s's instances were seen gone there (%d ms after the cut): %s; their conntrack entries"
                                + " on %s: %s; source ports used twice within 120 s: %s", label, r.where(), hx.node, goneAt - cut,
                        afterGone.stream().map(f -> f + " (" + (f.epochMs() - goneAt) + " ms after)").toList(), h.node,
                        conntrackOf(h, cli[h.index].address, afterGone), r.portReuses(120_000));
            }
            List<LoadClient.Failure> before = r.between(0, cut);
            List<LoadClient.Failure> inRound = r.between(goneRoundStartAt.get(h.node), goneAt);
            if (!inRound.isEmpty()) {
                note("%s: %s: %s's instances seen gone by %d ms after the cut (the look that saw it started at %d ms); failures that"
                                + " started in between (they may have met the instances): %s", label, r.where(), hx.node, goneAt - cut,
                        goneRoundStartAt.get(h.node) - cut, inRound);
            }
            List<String> reuses = r.portReuses(120_000);
            note("%s: load %s; failures while %s's instances were still answered: %d, after they left: %d %s, before the cut: %d;"
                            + " answers after the link came up %s; source ports that carried two connections to one address within 120 s:"
                            + " %d %s", label, r.summary(), hx.node, r.failed() - afterGone.size() - before.size(), afterGone.size(),
                    afterGone.stream().map(LoadClient.Failure::kind).distinct().toList(), before.size(), r.answersFrom(up), reuses.size(),
                    reuses.stream().limit(4).toList());
            if (r.sent() != r.count()) {
                problems.add(label + ": " + r.where() + " sent " + r.sent() + " of " + r.count());
            }
            if (!afterGone.isEmpty() || !before.isEmpty()) {
                problems.add(label + ": " + r.where() + ": " + (before.size() + afterGone.size()) + " failures before the cut or after "
                        + hx.node + "'s instances left, e.g. " + (before.isEmpty() ? afterGone : before).stream().limit(5).toList());
            }
            long backAll = returned.values().stream().mapToLong(v -> v).max().orElse(0);
            if (r.answersFrom(up + backAll).getOrDefault("web" + x, 0) == 0) {
                problems.add(label + ": " + r.where() + " got no answer from web" + x + " after it came back: " + r.answersFrom(up));
            }
        }
        if (!hx.agentRunning() || !agentLog.equals(hx.agentLog())) {
            problems.add(label + ": " + hx.node + "'s agent was restarted or is not running");
        }
        for (String id : List.of("web" + x, "rr" + x)) {
            if (!registrations.get(id).alive()) {
                problems.add(label + ": the registrant of " + id + " exited: " + Sh.tail(registrations.get(id).log, 2000));
            }
        }
        return problems;
    }

    /** The lines of {@code conntrack -L -p tcp} on {@code h} for {@code failures}' source ports from {@code source}. */
    static List<String> conntrackOf(Host h, String source, List<LoadClient.Failure> failures) {
        Sh.Result r = h.run(Duration.ofSeconds(20), "conntrack", "-L", "-p", "tcp", "--orig-src", source);
        if (!r.ok()) {
            return List.of("conntrack -L failed: " + r);
        }
        Set<String> ports = new HashSet<>();
        failures.forEach(f -> ports.add(f.localPort()));
        return r.lines().stream().filter(l -> ports.stream().anyMatch(p -> l.contains(" sport=" + p + " "))).toList();
    }

    static long since(long from, long at) {
        return at < 0 ? -1 : at - from;
    }

    /** The underlay link of host {@code n} (the bridge side of its veth, as a switch port or a cable) down or up. */
    void link(int n, boolean up) {
        Sh.check("ip", "-n", fleet.underlayNs, "link", "set", "h" + n, up ? "up" : "down");
    }

    boolean linkUp(int n) {
        Sh.Result r = Sh.run("ip", "-n", fleet.underlayNs, "-o", "link", "show", "h" + n);
        return r.ok() && r.out().contains("state UP");
    }

    // ------------------------------------------------------------------ monitoring

    /** A {@link Monitor} of tasks.web, rr and the nftables table on each of {@code hosts}, for every server address. */
    List<Monitor> monitors(List<Host> hosts, long everyMs, Duration bound) {
        List<Monitor> l = new ArrayList<>();
        for (Host h : hosts) {
            l.add(new Monitor(h, List.of("tasks.web", "rr"), allServers(), everyMs, bound));
        }
        return l;
    }

    Set<String> allServers() {
        return Set.of(srv[1].address, srv[2].address, srv[3].address);
    }

    /** Per "HOST NAME ADDRESS": the intervals in [from, to) where one of {@code addresses} was missing from tasks.web or rr there. */
    static Map<String, List<String>> gaps(List<Monitor> monitors, Set<String> addresses, long from, long to) {
        Map<String, List<String>> g = new TreeMap<>();
        for (Monitor mo : monitors) {
            for (String name : List.of("tasks.web", "rr")) {
                for (String a : addresses) {
                    List<String> l = mo.missing(name, a, from, to);
                    if (!l.isEmpty()) {
                        g.put(mo.host.node + " " + name + " " + a, l);
                    }
                }
            }
        }
        return g;
    }

    /**
     * Per "HOST NODE": how many times that host's agent logged its host lease lost ("lease of node NODE was lost": its node's
     * key and every instance registered through it are put again under a new one), all agent logs so far.
     */
    Map<String, Integer> leaseLosses() {
        return leaseLosses("node");
    }

    /** Per "HOST NAME": how many times that host's agent logged the lease of {@code kind} NAME lost (node: the host lease), all agent logs so far. */
    Map<String, Integer> leaseLosses(String kind) {
        Map<String, Integer> m = new TreeMap<>();
        Pattern p = Pattern.compile("lease of " + kind + " (\\S+) was lost");
        for (Host h : fleet.hosts()) {
            Matcher mm = p.matcher(Sh.tail(h.agentLog(), 20_000_000));
            while (mm.find()) {
                m.merge(h.node + " " + mm.group(1), 1, Integer::sum);
            }
        }
        return m;
    }

    /**
     * The registry watch's moves off a member in [from, to) in an agent's log, as "MS: silent" (no answer for the silence
     * bound) or "MS: failed", MS after {@code from}.
     */
    static List<String> watchMoves(Path log, long from, long to) {
        List<String> l = new ArrayList<>();
        for (String kind : List.of("silent", "failed")) {
            for (long at : logTimes(log, "registry: watch of ", " " + kind + " ")) {
                if (at >= from && at < to) {
                    l.add((at - from) + ": " + kind);
                }
            }
        }
        l.sort(java.util.Comparator.comparingLong(x -> Long.parseLong(x.substring(0, x.indexOf(':')))));
        return l;
    }

    static Map<String, Integer> since(Map<String, Integer> before, Map<String, Integer> now) {
        Map<String, Integer> d = new TreeMap<>();
        now.forEach((k, v) -> {
            int n = v - before.getOrDefault(k, 0);
            if (n > 0) {
                d.put(k, n);
            }
        });
        return d;
    }

    private static final java.time.format.DateTimeFormatter LOG_TIME = java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSZ");

    /** The times (epoch ms) of the lines of a portolan log (slf4j-simple, ISO time first) that contain every one of {@code needles}. */
    static List<Long> logTimes(Path log, String... needles) {
        List<Long> l = new ArrayList<>();
        for (String line : Sh.tail(log, 20_000_000).split("\n")) {
            if (java.util.Arrays.stream(needles).allMatch(line::contains) && line.length() > 28) {
                try {
                    l.add(java.time.OffsetDateTime.parse(line.substring(0, 28), LOG_TIME).toInstant().toEpochMilli());
                } catch (java.time.format.DateTimeParseException ignored) {
                    // not a log line of ours
                }
            }
        }
        return l;
    }

    // ------------------------------------------------------------------ shared helpers

    /** {@code register ... -- ip netns exec C python3 http_server.py ADDRESS PORT ID} through host h's agent; returns at once. */
    Registration serve(Host h, Container c, String service, String id, int port, String... extra) {
        List<String> args = new ArrayList<>(List.of("--service", service, "--address", c.address, "--port", "http:" + port,
                "--ttl", String.valueOf(TTL), "--id", id));
        args.addAll(List.of(extra));
        args.addAll(List.of("--", "ip", "netns", "exec", c.ns, "python3", serverScript().toString(), c.address, String.valueOf(port), id));
        return h.startRegistration(args.toArray(new String[0]));
    }

    static Path serverScript() {
        try {
            return Path.of(FleetDrillsTest.class.getResource("http_server.py").toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("test resource io/portolan/agent/fleet/http_server.py", e);
        }
    }

    /** Every member healthy, every agent ready, every link up; web and rr with all three instances in every host's DNS and nftables. */
    void awaitBaseline(String when) {
        Set<String> all = Set.of(srv[1].address, srv[2].address, srv[3].address);
        for (Host h : fleet.hosts()) {
            assertTrue(h.etcdRunning(), when + ": " + h.node + "'s etcd member runs");
            assertTrue(linkUp(h.index), when + ": " + h.node + "'s underlay link is up");
        }
        for (Host h : fleet.hosts()) {
            fleet.await(when + ": " + h.node + " answers web, tasks.web and rr, and routes every web instance", Duration.ofSeconds(60),
                    () -> dnsIs(h, "tasks.web", all) && dnsIs(h, "rr", all) && all.stream().allMatch(a -> nftHas(h, a))
                            && h.dig(h.gateway, "web." + ZONE).size() == 1);
        }
    }

    static boolean dnsIs(Host h, String name, Set<String> expected) {
        List<String> a = h.dig(h.gateway, name + "." + ZONE);
        return a.size() == expected.size() && new HashSet<>(a).equals(expected);
    }

    /** Whether portolan's nftables table on {@code h} names {@code address} (as an instance to DNAT to). */
    static boolean nftHas(Host h, String address) {
        Sh.Result r = h.run(Duration.ofSeconds(10), "nft", "list", "table", "ip", "portolan");
        return r.ok() && Pattern.compile("(?<![0-9.])" + Pattern.quote(address) + "(?![0-9])").matcher(r.out()).find();
    }

    /** The index of the host whose etcd member leads. */
    int etcdLeader() {
        Sh.Result r = fleet.host(1).run(Duration.ofSeconds(20), "etcdctl", "--endpoints", fleet.etcdEndpoints(), "--command-timeout=5s",
                "endpoint", "status", "-w", "json");
        assertTrue(r.ok(), r.toString());
        Matcher m = Pattern.compile("\"Endpoint\":\"http://10\\.213\\.0\\.(\\d+):2379\".*?\"member_id\":(\\d+).*?\"leader\":(\\d+)").matcher(r.out());
        while (m.find()) {
            if (m.group(2).equals(m.group(3))) {
                return Integer.parseInt(m.group(1));
            }
        }
        throw new AssertionError("no leader in " + r.out());
    }

    /** Every instance key under the fleet's prefix with its lease id (etcdctl get -w json). */
    Map<String, Long> instanceLeases() {
        Sh.Result r = fleet.host(1).run(Duration.ofSeconds(20), "etcdctl", "--endpoints", fleet.etcdEndpoints(), "--command-timeout=5s",
                "get", "--prefix", "/portolan/instances/", "-w", "json");
        assertTrue(r.ok(), r.toString());
        Map<String, Long> m = new TreeMap<>();
        Matcher kv = Pattern.compile("\\{\"key\":\"([^\"]+)\"[^}]*?\"lease\":(\\d+)").matcher(r.out());
        while (kv.find()) {
            m.put(new String(java.util.Base64.getDecoder().decode(kv.group(1))), Long.parseLong(kv.group(2)));
        }
        assertFalse(m.isEmpty(), "no instance keys: " + r.out());
        return m;
    }

    /** Per registrant id: how many heartbeat warnings its log holds so far. */
    Map<String, Integer> heartbeatWarnings() {
        Map<String, Integer> m = new TreeMap<>();
        registrations.forEach((id, r) -> m.put(id, count(Sh.tail(r.log, 10_000_000), "heartbeat for ")));
        return m;
    }

    static void signal(Registration r, String sig) {
        Sh.Result s = Sh.run("kill", "-" + sig, String.valueOf(r.process.pid()));
        assertTrue(s.ok(), s.toString());
    }

    /** Waits (bounded) for the registrant to exit; its exit code. */
    static int exitCode(Registration r, Duration bound) {
        Integer code = exitCodeOrRunning(r, bound);
        if (code == null) {
            r.close();
            throw new AssertionError("register still running after " + bound.toMillis() + " ms: " + Sh.tail(r.log, 3000));
        }
        return code;
    }

    /** The exit code if the registrant exits within {@code bound}; null if it is still running then (it registered). */
    static Integer exitCodeOrRunning(Registration r, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        while (System.nanoTime() < deadline) {
            if (!r.process.isAlive()) {
                return r.process.exitValue();
            }
            if (Sh.tail(r.log, 100_000).contains("registered ")) {
                return null;
            }
            Fleet.sleep(100);
        }
        return r.process.isAlive() ? null : r.process.exitValue();
    }

    /** Polls {@code condition} (bounded by {@code bound}) and returns the ms it took. */
    long awaitMs(String what, Duration bound, BooleanSupplier condition) {
        long s = System.nanoTime();
        fleet.await(what, bound, condition);
        return Math.max(1, ms(System.nanoTime() - s));
    }

    /** The first of {@code times} at or after {@code from}; none: {@code from - 1} (so that "- from" prints -1). */
    static long firstAfter(List<Long> times, long from) {
        return times.stream().filter(t -> t >= from).findFirst().orElse(from - 1);
    }

    static void sleepUntil(long epochMs) {
        long left = epochMs - System.currentTimeMillis();
        if (left > 0) {
            Fleet.sleep(Math.min(left, 120_000));
        }
    }

    static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + what.length())) {
            n++;
        }
        return n;
    }

    void note(String format, Object... args) {
        String line = String.format(format, args);
        report.add(line);
        System.out.println(line);
    }

    static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
