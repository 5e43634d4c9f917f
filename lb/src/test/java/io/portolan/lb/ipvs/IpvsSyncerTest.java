package io.portolan.lb.ipvs;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.proto.ClusterSnapshot;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.portolan.lb.ipvs.Snapshots.tcp;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

    IpvsSyncer syncer() {
        return new IpvsSyncer(IpvsConfig.DEFAULT, kernel, meters, sys);
    }

    static ClusterSnapshot withBad(long rev) {
        return IpvsRenderTest.cluster().service("bad", "10.99.0.9", "nosuch", List.of(tcp("http", 80)))
                .instance("bad", "x1", "10.0.9.1", tcp("http", 80)).build(rev);
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

    @Test
    void refusedService_othersProgrammed_noRuleNoVip_notRetried() throws Exception {
        IpvsSyncer s = syncer();
        s.sync(withBad(1), true);
        assertEquals(5, kernel.services.size(), "the five good frontends are programmed");
        assertFalse(kernel.services.containsValue("nosuch"));
        assertTrue(kernel.chain.stream().noneMatch(r -> r.contains("10.99.0.9")), "no mark rule for the refused service");
        assertFalse(kernel.addresses.contains("10.99.0.9/32"), "no VIP for the refused service");
        assertEquals(1.0, meters.counter("portolan.ipvs.rejected").count());
        int batches = kernel.batches().size();
        s.sync(withBad(2), false);
        assertEquals(batches, kernel.batches().size(), "an unchanged refused service is not retried");
        // a later change elsewhere goes through
        ClusterSnapshot more = IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", tcp("http", 8080))
                .service("bad", "10.99.0.9", "nosuch", List.of(tcp("http", 80))).instance("bad", "x1", "10.0.9.1", tcp("http", 80)).build(3);
        s.sync(more, false);
        assertTrue(kernel.batches().get(kernel.batches().size() - 1).contains("10.0.1.9:8080"));
        // fixed: programmed
        ClusterSnapshot fixed = IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", tcp("http", 8080))
                .service("bad", "10.99.0.9", "rr", List.of(tcp("http", 80))).instance("bad", "x1", "10.0.9.1", tcp("http", 80)).build(4);
        s.sync(fixed, false);
        assertEquals(6, kernel.services.size());
        assertTrue(kernel.addresses.contains("10.99.0.9/32"));
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
    void oneInstanceAdded_isOneLineBatch_noRuleOrAddressCommand() throws Exception {
        IpvsSyncer s = syncer();
        s.sync(IpvsRenderTest.cluster().build(1), true);
        int commands = kernel.commands.size();
        s.sync(IpvsRenderTest.cluster().instance("web", "w9", "10.0.1.9", tcp("http", 8080)).build(2), false);
        List<List<String>> ran = kernel.commands.subList(commands, kernel.commands.size());
        assertEquals(List.of(List.of("ipvsadm", "-R")), ran);
        assertEquals(1, kernel.batches().get(kernel.batches().size() - 1).split("\n").length);
    }

    @Test
    void serviceRemoved_drainedThenDeleted_ruleAndVipGo() throws Exception {
        IpvsSyncer s = new IpvsSyncer(IpvsConfig.parse(Map.of("ipvs-drain-timeout", "0s")), kernel, meters, sys);
        s.sync(IpvsRenderTest.cluster().build(1), true);
        ClusterSnapshot noDns = new ClusterSnapshot(2, Map.of(), Map.of());
        s.sync(noDns, false);
        assertTrue(kernel.services.isEmpty());
        assertTrue(kernel.chain.isEmpty());
        assertTrue(kernel.addresses.isEmpty());
    }
}
