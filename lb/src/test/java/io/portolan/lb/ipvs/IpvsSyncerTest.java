package io.portolan.lb.ipvs;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.proto.ClusterSnapshot;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.time.Duration;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The apply step against {@link FakeKernel}: what runs, what the "kernel" ends up holding. */
class IpvsSyncerTest {
    @TempDir
    Path sys;
    FakeKernel kernel;
    SimpleMeterRegistry meters;

    @BeforeEach
    void sysctls() throws Exception {
        for (String k : List.of("net/ipv4/vs/conntrack", "net/ipv4/vs/conn_reuse_mode", "net/ipv4/vs/expire_nodest_conn",
                "net/ipv4/vs/expire_quiescent_template", "net/ipv4/ip_forward")) {
            Files.createDirectories(sys.resolve(k).getParent());
            Files.writeString(sys.resolve(k), "0\n");
        }
        kernel = new FakeKernel();
        meters = new SimpleMeterRegistry();
    }

    /** The mark of the service "web" (its real servers are 10.0.1.x:8080). */
    long webMark() {
        return kernel.reals.entrySet().stream().filter(e -> e.getValue().keySet().stream().anyMatch(r -> r.startsWith("10.0.1.")))
                .findFirst().orElseThrow().getKey();
    }

    /** A syncer with the persistent ipvsadm session (as where stdbuf exists). */
    IpvsSyncer syncer() {
        return syncer(IpvsConfig.DEFAULT);
    }

    IpvsSyncer syncer(IpvsConfig config) {
        return new IpvsSyncer(config, kernel, meters, sys, new IpvsadmSession(kernel, Duration.ofSeconds(10)));
    }

    /** A syncer that starts ipvsadm once per call (where stdbuf is missing). */
    IpvsSyncer oneShotSyncer() {
        return new IpvsSyncer(IpvsConfig.DEFAULT, kernel, meters, sys, new IpvsadmOneShot(kernel));
    }

    static ClusterSnapshot withBad(long rev) {
        return IpvsRenderTest.cluster().vip("bad", "10.99.0.9", "http:80/tcp").scheduler("nosuch")
                .instance("bad", "x1", "10.0.9.1", "http:80/tcp").build(rev);
    }

    @Test
    void fromEmpty_oneBatch_rulesAndVips_sysctlsSet() throws Exception {
        syncer().sync(IpvsRenderTest.cluster().build(1), true);
        assertEquals(1, kernel.batches().size());
        assertEquals(5, kernel.services.size());
        assertEquals(5, kernel.chain.size());
        assertTrue(kernel.chain.get(0).contains("addrtype"), "published-port rules first: " + kernel.chain);
        assertEquals(List.of("10.99.0.5/32", "10.99.0.6/32", "10.99.0.7/32"), kernel.addresses.stream().sorted().toList());
        assertEquals("1", Files.readString(sys.resolve("net/ipv4/vs/conntrack")));
        assertEquals("1", Files.readString(sys.resolve("net/ipv4/vs/expire_nodest_conn")));
    }

    @ParameterizedTest(name = "oneShot={0}")
    @ValueSource(booleans = {false, true})
    void refusedService_othersProgrammed_noRuleNoVip_notRetried(boolean oneShot) throws Exception {
        IpvsSyncer s = oneShot ? oneShotSyncer() : syncer();
        s.sync(withBad(1), true);
        assertEquals(5, kernel.services.size(), "the five good frontends are programmed");
        assertFalse(kernel.services.containsValue("nosuch"));
        assertTrue(kernel.chain.stream().noneMatch(r -> r.contains("10.99.0.9")), "no mark rule for the refused service");
        assertFalse(kernel.addresses.contains("10.99.0.9/32"), "no VIP for the refused service");
        assertEquals(1.0, meters.counter("portolan.ipvs.rejected").count());
        assertEquals(java.util.Set.of("bad"), s.rejectedServices().keySet(), "the status page names the refused service");
        assertTrue(s.rejectedServices().get("bad").contains("scheduler nosuch"), s.rejectedServices().toString());
        int batches = kernel.batches().size();
        s.sync(withBad(2), false);
        assertEquals(batches, kernel.batches().size(), "an unchanged refused service is not retried");
        // a later change elsewhere goes through
        ClusterSnapshot more = IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", "http:8080/tcp")
                .vip("bad", "10.99.0.9", "http:80/tcp").scheduler("nosuch").instance("bad", "x1", "10.0.9.1", "http:80/tcp").build(3);
        s.sync(more, false);
        assertTrue(kernel.batches().get(kernel.batches().size() - 1).contains("10.0.1.9:8080"));
        // fixed: programmed
        ClusterSnapshot fixed = IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", "http:8080/tcp")
                .vip("bad", "10.99.0.9", "http:80/tcp").scheduler("rr").instance("bad", "x1", "10.0.9.1", "http:80/tcp").build(4);
        s.sync(fixed, false);
        assertEquals(6, kernel.services.size());
        assertTrue(kernel.addresses.contains("10.99.0.9/32"));
        assertEquals(Map.of(), s.rejectedServices(), "programmed: no longer shown as refused");
    }

    @Test
    void restart_adoptsEverything_runsNoBatch() throws Exception {
        syncer().sync(IpvsRenderTest.cluster().build(1), true);
        Map<Long, Map<String, Integer>> before = Map.copyOf(kernel.reals);
        List<String> chain = List.copyOf(kernel.chain);
        int batches = kernel.batches().size();
        syncer().sync(IpvsRenderTest.cluster().build(1), true);
        assertEquals(batches, kernel.batches().size(), "a restarted syncer with the same snapshot changes nothing in IPVS");
        assertEquals(before, kernel.reals);
        assertEquals(chain, kernel.chain, "the chain is not rewritten when it holds what it should");
        assertTrue(kernel.commands.subList(kernel.commands.size() - 3, kernel.commands.size()).stream()
                .noneMatch(c -> c.get(0).equals("iptables-restore")));
    }

    @Test
    void fullResync_foreignRuleInOurChain_chainRewritten() throws Exception {
        syncer().sync(IpvsRenderTest.cluster().build(1), true);
        kernel.chain.add("-p tcp -m tcp --dport 1 -j ACCEPT");
        syncer().sync(IpvsRenderTest.cluster().build(1), true);
        assertEquals(5, kernel.chain.size());
        assertTrue(kernel.chain.stream().noneMatch(r -> r.contains("--dport 1 ")));
    }

    @Test
    void oneInstanceAdded_isOneLineBatch_noProcessStarted() throws Exception {
        IpvsSyncer s = syncer();
        s.sync(IpvsRenderTest.cluster().build(1), true);
        int commands = kernel.commands.size();
        s.sync(IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", "http:8080/tcp").build(2), false);
        assertEquals(List.of(), kernel.commands.subList(commands, kernel.commands.size()), "no ipvsadm, iptables, ip or conntrack process");
        assertEquals("-a -f " + webMark() + " -r 10.0.1.9:8080 -m -w 100\n", kernel.batches().get(kernel.batches().size() - 1));
        assertEquals(1, s.ipvsadm().starts(), "one ipvsadm -R session since the start");
    }

    @Test
    void oneInstanceAdded_oneShot_isOneLineBatch_noRuleOrAddressCommand() throws Exception {
        IpvsSyncer s = oneShotSyncer();
        s.sync(IpvsRenderTest.cluster().build(1), true);
        int commands = kernel.commands.size();
        s.sync(IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", "http:8080/tcp").build(2), false);
        List<List<String>> ran = kernel.commands.subList(commands, kernel.commands.size());
        assertEquals(List.of(List.of("ipvsadm", "-R")), ran);
        assertEquals(1, kernel.batches().get(kernel.batches().size() - 1).split("\n").length);
    }

    @Test
    void sessionDiesMidBatch_syncFails_nextSyncIsFull_newSession_kernelMatchesPlan() throws Exception {
        IpvsSyncer s = syncer();
        s.sync(IpvsRenderTest.cluster().build(1), true);
        ClusterSnapshot more = IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", "http:8080/tcp")
                .instance("web", "w8", "10.0.1.8", "http:8080/tcp").build(2);
        kernel.dieAfter = 1; // the first of the two lines (10.0.1.8) runs, then ipvsadm is gone
        IOException e = assertThrows(IOException.class, () -> s.sync(more, false));
        assertTrue(e.getMessage().contains("ipvsadm -R exited"), e.getMessage());
        assertEquals(1, kernel.reals.get(webMark()).keySet().stream().filter(r -> r.startsWith("10.0.1.8:") || r.startsWith("10.0.1.9:")).count(),
                "half applied");
        kernel.dieAfter = -1;
        int commands = kernel.commands.size();
        s.sync(more, false); // asked for an incremental sync: runs as a full one
        List<List<String>> ran = kernel.commands.subList(commands, kernel.commands.size());
        assertTrue(ran.contains(IpvsadmSession.ARGV), "a new session: " + ran);
        assertTrue(ran.contains(List.of("iptables-save", "-t", "mangle")), "the kernel is re-read: " + ran);
        assertEquals(2, s.ipvsadm().starts());
        assertTrue(kernel.reals.get(webMark()).keySet().containsAll(List.of("10.0.1.9:8080", "10.0.1.8:8080")));
        assertEquals("-a -f " + webMark() + " -r 10.0.1.9:8080 -m -w 100\n", kernel.batches().get(kernel.batches().size() - 1),
                "after the re-read only the missing line is sent");
        // and the syncer's table agrees with a fresh adoption: a restarted syncer changes nothing
        int batches = kernel.batches().size();
        syncer().sync(more, true);
        assertEquals(batches, kernel.batches().size());
    }

    @Test
    void sessionKilledBetweenSyncs_replacedSilently_changeApplied() throws Exception {
        IpvsSyncer s = syncer();
        s.sync(IpvsRenderTest.cluster().build(1), true);
        kernel.killSessions();
        s.sync(IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", "http:8080/tcp").build(2), false);
        assertEquals(2, s.ipvsadm().starts());
        assertTrue(kernel.reals.get(webMark()).containsKey("10.0.1.9:8080"));
    }

    @Test
    void instanceRemoved_weightZero_thenCountsReadInSession_deleted() throws Exception {
        IpvsSyncer s = syncer(IpvsConfig.parse(Map.of("ipvs-drain-timeout", "1h")));
        ClusterSnapshot with = IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", "http:8080/tcp").build(1);
        s.sync(with, true);
        int commands = kernel.commands.size();
        s.sync(IpvsRenderTest.cluster().build(2), false);
        assertEquals(0, kernel.reals.get(webMark()).get("10.0.1.9:8080"), "weight 0 first");
        assertTrue(s.draining());
        s.sync(IpvsRenderTest.cluster().build(3), false); // the drain tick: counts say no connections
        assertFalse(kernel.reals.get(webMark()).containsKey("10.0.1.9:8080"));
        assertFalse(s.draining());
        assertEquals(List.of(), kernel.commands.subList(commands, kernel.commands.size()), "counts read through the session, no process");
    }

    @Test
    void refusedService_loggedWithItsOwnError() throws Exception {
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(log, true));
        try {
            syncer().sync(withBad(1), true);
        } finally {
            System.setErr(err);
        }
        String line = log.toString().lines().filter(l -> l.contains("refused")).findFirst().orElse("(no line in: " + log + ")");
        // its own group's errors: the refused -A, then its real server's "Service not defined"; no other service's
        assertTrue(line.contains("service bad") && line.contains("scheduler nosuch") && line.endsWith(
                "Scheduler or persistence engine not found; Service not defined; its previous rules stay in force, other services are "
                        + "synced; fix the service (e.g. its scheduler) and it is retried"), line);
    }

    @Test
    void session_unparsableLine_exitsNamed_nextCallStartsAnother() throws Exception {
        IpvsadmSession session = new IpvsadmSession(kernel, Duration.ofSeconds(10));
        IOException e = assertThrows(IOException.class, () -> session.run(List.of(List.of("-A -f 5 -s rr"), List.of("-x -y"))));
        assertTrue(e.getMessage().contains("group 2 of 2 (-x -y): illegal line -x -y"), e.getMessage());
        assertEquals(List.of(List.of(), List.of("Service already exists")),
                session.run(List.of(List.of("-a -f 5 -r 10.0.0.1:80 -m -w 1"), List.of("-A -f 5 -s rr"))));
        assertEquals(2, session.starts());
        assertThrows(IllegalArgumentException.class, () -> session.run(List.of(List.of("-A -f 6 -s rr\n-C"))));
        session.close();
    }

    @Test
    void serviceRemoved_drainedThenDeleted_ruleAndVipGo() throws Exception {
        IpvsSyncer s = syncer(IpvsConfig.parse(Map.of("ipvs-drain-timeout", "0s")));
        s.sync(IpvsRenderTest.cluster().build(1), true);
        ClusterSnapshot noDns = new ClusterSnapshot(2, Map.of(), Map.of());
        s.sync(noDns, false);
        assertTrue(kernel.services.isEmpty());
        assertTrue(kernel.chain.isEmpty());
        assertTrue(kernel.addresses.isEmpty());
    }
}
