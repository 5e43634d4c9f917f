package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The harness itself, on the OVERLAPPING layout (which the scenarios do not use) with
 * {@code --dataplane none}: leftovers of a crashed run are removed at start; containers on
 * different hosts share one address and reach each other only through host ports; DNS through
 * each host's agent; an etcd member stopped (registration and DNS go on with two of three) and
 * started again; an agent killed and started again; and close() leaves nothing behind.
 */
class FleetHarnessTest {

    @Test
    void overlappingLayout_etcdMemberOutage_agentRestart_andCleanup() throws Exception {
        long t0 = System.nanoTime();
        // what a crashed run leaves: a namespace with a process in it, its /etc/netns directory, a temp directory
        long deadPid = deadPid();
        String leftover = Fleet.PREFIX + deadPid + "-1-h1";
        Sh.check("ip", "netns", "add", leftover);
        Process sleeper = new ProcessBuilder("ip", "netns", "exec", leftover, "sleep", "300").start();
        Path leftoverEtc = Files.createDirectories(Path.of("/etc/netns", leftover));
        Path leftoverTmp = Files.createTempDirectory(Fleet.PREFIX + deadPid + "-1-");

        String id;
        Path dir;
        List<Long> pids = new ArrayList<>();
        try (Fleet fleet = Fleet.start(Fleet.options().layout(Fleet.Layout.OVERLAPPING).plane(Fleet.Plane.NONE))) {
            id = fleet.id();
            dir = fleet.dir();
            assertFalse(Fleet.listNamespaces().contains(leftover), "the leftover namespace was removed");
            assertTrue(sleeper.waitFor(10, java.util.concurrent.TimeUnit.SECONDS), "the process in the leftover namespace was ended");
            assertFalse(Files.exists(leftoverEtc), leftoverEtc + " removed");
            assertFalse(Files.exists(leftoverTmp), leftoverTmp + " removed");

            Host h1 = fleet.host(1);
            Host h2 = fleet.host(2);
            Host h3 = fleet.host(3);
            Container a = h1.container("a");
            Container b = h2.container("b");
            Container c = h3.container("c");
            assertEquals(Set.of("172.30.0.2"), new HashSet<>(List.of(a.address, b.address, c.address)), "one subnet on every host");
            a.serveHttp(8000);
            b.serveHttp(8000);
            assertEquals("a", h1.curl("http://172.30.0.2:8000/"), "each host reaches its own container");
            assertEquals("b", h2.curl("http://172.30.0.2:8000/"));
            assertNull(c.curl("http://172.30.0.2:8000/"), "172.30.0.2 is c itself on host3: nothing serves there");
            h1.publishHostPort(a, 18000, 8000);
            h2.publishHostPort(b, 18000, 8000);
            assertEquals("a", c.curl("http://" + h1.underlay + ":18000/"), "host ports reach containers from other hosts");
            assertEquals("b", c.curl("http://" + h2.underlay + ":18000/"));
            assertEquals("b", fleet.client().curl("http://" + h2.underlay + ":18000/"), "and from outside");
            Container a2 = h1.container("aa");
            assertEquals("a", a2.curl("http://" + h1.underlay + ":18000/"), "and from a neighbour on the same bridge (hairpin)");

            // instances registered with their host's address and host port; resolved from host3's container
            h1.register("--service", "web", "--mode", "dnsrr", "--address", h1.underlay, "--port", "http:18000", "--id", "web1");
            h2.register("--service", "web", "--mode", "dnsrr", "--address", h2.underlay, "--port", "http:18000", "--id", "web2");
            Set<String> both = Set.of(h1.underlay, h2.underlay);
            fleet.await("web's two instances from host3's container", Duration.ofSeconds(30),
                    () -> new HashSet<>(c.getent("ahostsv4", "web")).equals(both));
            Fleet.Tally t = c.load("http://web:18000/", 10);
            assertEquals(0, t.failures(), t.toString());
            assertTrue(Set.of("a", "b").containsAll(t.answers().keySet()), t.toString());

            // one etcd member down: two of three keep the cluster going
            fleet.stopEtcd(1);
            assertFalse(h1.etcdRunning());
            h2.register("--service", "late", "--address", h2.underlay, "--port", "http:18000", "--id", "late2", "--mode", "dnsrr");
            fleet.await("late from host3's DNS while host1's etcd is down", Duration.ofSeconds(30),
                    () -> c.getent("ahostsv4", "tasks.late").equals(List.of(h2.underlay)));
            fleet.startEtcd(1);
            assertTrue(h1.etcdRunning());
            fleet.await("late from host1's DNS after its etcd member is back", Duration.ofSeconds(30),
                    () -> h1.dig(h1.gateway, "tasks.late." + Fleet.ZONE).equals(List.of(h2.underlay)));

            // an agent killed and started again serves again
            h3.killAgent();
            assertFalse(h3.agentRunning());
            assertTrue(c.dig(h3.gateway, "tasks.web." + Fleet.ZONE).isEmpty(), "no DNS on host3 without its agent");
            h3.startAgent();
            // /readyz means "the first registry listing is loaded", not "DNS answers from it": the snapshot
            // is built and handed to DNS on threads of their own after that, so allow a bounded moment
            long ready = System.nanoTime();
            fleet.await("tasks.web from the restarted agent", Duration.ofSeconds(10),
                    () -> new HashSet<>(c.dig(h3.gateway, "tasks.web." + Fleet.ZONE)).equals(both));
            System.out.printf("fleet harness test: restarted agent's DNS answered tasks.web %d ms after /readyz%n",
                    (System.nanoTime() - ready) / 1_000_000);

            for (String ns : Fleet.listNamespaces()) {
                if (ns.startsWith(id + "-")) {
                    for (String pid : Sh.run("ip", "netns", "pids", ns).lines()) {
                        pids.add(Long.parseLong(pid));
                    }
                }
            }
            assertTrue(pids.size() >= 3 + 3 + 2, "etcd members, agents, http servers: " + pids);
        }
        // close() removed everything it made
        for (String ns : Fleet.listNamespaces()) {
            assertFalse(ns.startsWith(id + "-"), "namespace left: " + ns);
        }
        try (var etc = Files.list(Path.of("/etc/netns"))) {
            etc.forEach(p -> assertFalse(p.getFileName().toString().startsWith(id + "-"), "left: " + p));
        } catch (java.nio.file.NoSuchFileException ignored) {
            // no /etc/netns at all
        }
        assertFalse(Files.exists(dir), dir + " left");
        for (long pid : pids) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "process left: " + pid);
        }
        System.out.printf("fleet harness test: %d ms with teardown%n", (System.nanoTime() - t0) / 1_000_000);
    }

    /** The pid of a process that has exited (what a crashed run's pid looks like). */
    static long deadPid() throws IOException, InterruptedException {
        for (int i = 0; i < 10; i++) {
            Process p = new ProcessBuilder("true").start();
            p.waitFor();
            long pid = p.pid();
            if (ProcessHandle.of(pid).isEmpty()) {
                return pid;
            }
        }
        throw new IllegalStateException("no dead pid found");
    }
}
