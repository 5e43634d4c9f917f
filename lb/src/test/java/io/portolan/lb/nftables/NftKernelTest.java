package io.portolan.lb.nftables;

import io.portolan.lb.host.Exec;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.testing.Snapshots;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * apply, read-back (adoption), refusal and cleanup against the real {@code nft} and kernel, in a
 * network namespace of the test's own ({@code ip netns exec NS nft -f -}). No traffic.
 */
class NftKernelTest {
    static final String NS = "ptl-nftk-" + ProcessHandle.current().pid();
    static Nft nft;

    @BeforeAll
    static void namespace() throws Exception {
        run("ip", "netns", "add", NS);
        run("ip", "-n", NS, "link", "set", "lo", "up");
        nft = new Nft(Exec.inNetns(NS));
    }

    @AfterAll
    static void removeNamespace() throws Exception {
        run("ip", "netns", "del", NS);
    }

    static String run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), String.join(" ", argv));
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }

    static String list() throws IOException, InterruptedException {
        return run("ip", "netns", "exec", NS, "nft", "list", "table", "ip", "portolan");
    }

    static Map<String, String> elements(KernelTable s) {
        Map<String, String> m = new HashMap<>();
        java.util.stream.StreamSupport.stream(s.objects().spliterator(), false).filter(o -> o.kind() == NftObject.Kind.ELEMENT).forEach(o -> m.put(o.id(), o.value()));
        return m;
    }

    static Map<String, String> elements(Ruleset r) {
        Map<String, String> m = new HashMap<>();
        r.services().values().forEach(f -> f.objects().stream().filter(o -> o.kind() == NftObject.Kind.ELEMENT)
                .forEach(o -> m.put(o.id(), o.value())));
        return m;
    }

    NftablesDataPlane plane(NftConfig c) {
        return new NftablesDataPlane(c, Exec.inNetns(NS), new SimpleMeterRegistry());
    }

    @Test
    void sync_fullThenIncrementalThenAdoption_kernelMatchesRender() throws Exception {
        NftConfig c = NftConfig.parse(Map.of("nft-slots", "8", "nft-table", "portolan"));
        Snapshots b = NftRenderGoldenTest.golden();
        try (NftablesDataPlane p = plane(c)) {
            p.sync(b.build(1), true);
            assertEquals(elements(NftRender.render(b.build(1), c)), elements(nft.read("portolan")));
            String text = list();
            assertTrue(text.contains("sh_api_tcp_443"), text);
            assertTrue(text.contains("hook prerouting priority dstnat"), text);

            b.remove("web", "c");
            p.sync(b.build(2), false);
            assertEquals(elements(NftRender.render(b.build(2), c)), elements(nft.read("portolan")));
            b.instance("api", "z", "10.1.2.3", "https:8443/tcp");
            p.sync(b.build(3), false);
            assertEquals(elements(NftRender.render(b.build(3), c)), elements(nft.read("portolan")));
            assertTrue(list().contains("be_api_tcp_443_10.1.2.3_8443"));
            assertTrue(p.rejected().isEmpty());
        }
        // a restarted agent: reads the table, changes no element, removes nothing
        KernelTable read = nft.read("portolan");
        assertTrue(read.tablePresent);
        Ruleset r = NftRender.render(b.build(3), c);
        Plan adopt = NftDiff.full(c, read, r);
        for (Plan.Group g : adopt.groups()) {
            for (Plan.Op op : g.ops()) {
                assertTrue(op.type() == Plan.OpType.CLAIM || op.object().kind() == NftObject.Kind.CHAIN
                        && op.type() == Plan.OpType.REPLACE, g.owner() + ": " + op);
            }
        }
        try (NftablesDataPlane p = plane(c)) {
            p.sync(b.build(3), true);
            assertEquals(elements(r), elements(nft.read("portolan")));
            // a service removed after adoption: its elements, chains and sets go
            b = NftRenderGoldenTest.golden();
            ClusterSnapshot noApi = new ClusterSnapshot(4, Map.of("web", b.build(4).services().get("web")), b.build(4).instancesByService());
            p.sync(noApi, false);
            String text = list();
            assertFalse(text.contains("api"), text);
            assertEquals(elements(NftRender.render(noApi, c)), elements(nft.read("portolan")));
        }
    }

    /**
     * A port with more instances than {@code --nft-slots}: there are slot chains for 1..slots only, so
     * the plane keeps {@code slots} of them (and says so) instead of jumping to a chain that does not
     * exist, which the kernel refused, and with it every service in the same transaction.
     */
    @Test
    void sync_portWithMoreInstancesThanSlots_keepsSlotsOfThem_warns_othersProgrammed() throws Exception {
        NftConfig c = NftConfig.parse(Map.of("nft-slots", "4", "nft-table", "capped"));
        Snapshots b = Snapshots.builder().node("node1")
                .vip("big", "10.96.0.40", "http:80/tcp").published("8040:80/tcp")
                .vip("small", "10.96.0.41", "53/udp")
                .instance("small", "s1", "10.1.5.1");
        for (int i = 1; i <= 7; i++) {
            b.instance("big", "b" + i, "10.1.4." + i, "http:80/tcp");
        }
        try (NftablesDataPlane p = plane(c)) {
            p.sync(b.build(1), true);
            assertTrue(p.rejected().isEmpty(), p.rejected().toString());
            Map<String, String> kernel = elements(nft.read("capped"));
            assertEquals(elements(NftRender.render(b.build(1), c)), kernel);
            long bigVip = kernel.keySet().stream().filter(k -> k.startsWith("e backends 10.96.0.40 ")).count();
            long bigPublished = kernel.keySet().stream().filter(k -> k.startsWith("e published_backends tcp . 8040 ")).count();
            assertEquals(4, bigVip, kernel.toString());
            assertEquals(4, bigPublished, kernel.toString());
            assertTrue(kernel.containsKey("e backends 10.96.0.41 . udp . 53 . 0"), kernel.toString());
            String table = run("ip", "netns", "exec", NS, "nft", "list", "table", "ip", "capped");
            assertTrue(table.contains("goto slots_4"), table);
            assertFalse(table.contains("slots_7"), table);
            assertTrue(NftRender.render(b.build(1), c).services().get("big").warnings().stream()
                    .anyMatch(w -> w.contains("port tcp/80 has 7 instances, more than --nft-slots 4")), "warned");
        } finally {
            run("ip", "netns", "exec", NS, "nft", "delete", "table", "ip", "capped");
        }
    }

    @Test
    void sync_twoServicesPublishSamePort_kernelRefusesOneOthersProgrammed() throws Exception {
        NftConfig c = NftConfig.parse(Map.of("nft-table", "refusal"));
        Snapshots b = NftRenderGoldenTest.golden()
                // "zz" publishes 8080 too; "web" (first in order) holds it, the kernel refuses zz's element (File exists)
                .vip("zz", "10.96.0.99", "http:80/tcp").scheduler("wrr").published("8080:80/tcp")
                .instance("zz", "z1", "10.1.9.1");
        try (NftablesDataPlane p = plane(c)) {
            p.sync(b.build(1), true);
            assertEquals(Set.of("zz"), p.rejected().keySet());
            assertTrue(p.rejected().get("zz").contains("File exists"), p.rejected().toString());
            assertEquals(p.rejected(), p.status().rejected(), "the status page shows what the kernel refused");
            Map<String, String> kernel = elements(nft.read("refusal"));
            Map<String, String> want = elements(NftRender.render(NftRenderGoldenTest.golden().build(1), c));
            assertEquals(want, kernel, "every other service is programmed, zz is not");

            // zz changes again: still refused, and the others' incremental changes go through
            b.remove("web", "c");
            p.sync(b.build(2), false);
            assertEquals(Set.of("zz"), p.rejected().keySet());
            assertEquals("10.1.0.2 . 8080", nft.read("refusal").find("e published_backends tcp . 8080 . 1").value());

            // web stops publishing 8080: zz is retried and gets it
            b.vip("web", "10.96.0.10", "http:80/tcp").scheduler("wrr");
            p.sync(b.build(3), false);
            assertTrue(p.rejected().isEmpty(), p.rejected().toString());
            KernelTable k = nft.read("refusal");
            assertEquals("10.1.9.1 . 80", k.find("e published_backends tcp . 8080 . 0").value());
            assertTrue(k.find("e vips 10.96.0.99 . tcp . 80") != null);
        } finally {
            NftablesDataPlane.cleanup(c, Exec.inNetns(NS));
        }
    }

    @Test
    void cleanup_removesTableAndLabelledVips_only() throws Exception {
        NftConfig c = NftConfig.parse(Map.of("nft-table", "cleanme", "nft-vip-device", "lo"));
        run("ip", "netns", "exec", NS, "nft", "add", "table", "ip", "someone_else");
        run("ip", "-n", NS, "addr", "add", "10.96.7.7/32", "dev", "lo");
        try (NftablesDataPlane p = plane(c)) {
            p.sync(NftRenderGoldenTest.golden().build(1), true);
            String addrs = run("ip", "-n", NS, "-4", "addr", "show", "dev", "lo");
            assertTrue(addrs.contains("10.96.0.10/32") && addrs.contains("lo:ptl"), addrs);
            assertTrue(addrs.contains("10.96.0.30/32"), "a VIP without instances is still added: " + addrs);
            assertFalse(addrs.contains("10.96.0.99/32"), addrs);
            // a service removed: its VIP goes
            Snapshots b = NftRenderGoldenTest.golden();
            ClusterSnapshot s2 = new ClusterSnapshot(2, Map.of("web", b.build(2).services().get("web")), b.build(2).instancesByService());
            p.sync(s2, false);
            addrs = run("ip", "-n", NS, "-4", "addr", "show", "dev", "lo");
            assertFalse(addrs.contains("10.96.0.20/32"), addrs);
            assertTrue(addrs.contains("10.96.0.10/32"), addrs);
        }
        NftablesDataPlane.cleanup(c, Exec.inNetns(NS));
        String addrs = run("ip", "-n", NS, "-4", "addr", "show", "dev", "lo");
        assertFalse(addrs.contains("10.96.0.10/32"), addrs);
        assertTrue(addrs.contains("10.96.7.7/32"), "an address portolan did not add stays: " + addrs);
        assertTrue(addrs.contains("127.0.0.1/8"), addrs);
        String tables = run("ip", "netns", "exec", NS, "nft", "list", "tables");
        assertFalse(tables.contains("cleanme"), tables);
        assertTrue(tables.contains("someone_else"), tables);
        NftablesDataPlane.cleanup(c, Exec.inNetns(NS)); // twice: nothing left to remove, no error
    }

    @Test
    void apply_smallScripts_goThroughOneSessionAllOrNothing() throws Exception {
        Nft own = new Nft(Exec.inNetns(NS));
        try {
            own.apply("add table ip sess\nadd map ip sess m { type ipv4_addr : verdict; }\nadd chain ip sess c\n");
            own.apply("# a comment line\nadd element ip sess m { 10.0.0.1 : goto c }\n");
            Nft.NftException refused = org.junit.jupiter.api.Assertions.assertThrows(Nft.NftException.class,
                    () -> own.apply("add element ip sess m { 10.0.0.2 : goto c }\nadd element ip sess m { 10.0.0.3 : goto nochain }\n"));
            assertTrue(refused.getMessage().contains("Error"), refused.getMessage());
            // a delete (the case a one-shot nft pays an RCU grace period for) and an add, in one transaction
            own.apply("delete element ip sess m { 10.0.0.1 }\nadd element ip sess m { 10.0.0.4 : goto c }\n");
            String text = run("ip", "netns", "exec", NS, "nft", "list", "map", "ip", "sess", "m");
            assertTrue(text.contains("10.0.0.4"), text);
            assertFalse(text.contains("10.0.0.1 "), text);
            assertFalse(text.contains("10.0.0.2"), "the refused transaction added nothing: " + text);
        } finally {
            own.close();
            run("ip", "netns", "exec", NS, "nft", "delete", "table", "ip", "sess");
        }
    }

    /** What the plane wrote before UDP was DNATed: the backend maps' data declared with {@code tcp dport}. */
    static String earlierLayoutScript(NftConfig c, Ruleset r) {
        String script = NftDiff.full(c, new KernelTable(), r).script();
        String earlier = script.replace(": " + NftRender.BACKEND_DATA + ";", ": ip daddr . tcp dport;");
        assertEquals(2, earlier.split(": ip daddr \\. tcp dport;", -1).length - 1, "both backend maps: " + earlier);
        return earlier;
    }

    @Test
    void sync_tableOfTheEarlierTcpOnlyLayout_replacedWholeInOneTransaction_thenAdopted() throws Exception {
        NftConfig c = NftConfig.parse(Map.of("nft-slots", "8", "nft-table", "upgrade"));
        Snapshots b = NftRenderGoldenTest.golden();
        Ruleset r = NftRender.render(b.build(1), c);
        Exec.Result old = Exec.inNetns(NS).run(List.of("nft", "-f", "-"), earlierLayoutScript(c, r)
                + "add element ip upgrade vips { 10.96.9.9 . tcp . 99 : goto slots_1 }\n", java.time.Duration.ofSeconds(30));
        assertEquals(0, old.code(), old.toString());
        // that layout: nft made the dnat of the first rule it read using each backend map match TCP only (meta l4proto,
        // compared with 6): slots_1 and pslots_1, the chains of every service port with one slot
        for (String chain : List.of("slots_1", "pslots_1")) {
            String netlink = run("ip", "netns", "exec", NS, "nft", "--debug=netlink", "list", "chain", "ip", "upgrade", chain);
            assertTrue(netlink.contains("[ cmp eq reg 1 0x00000006 ]"), netlink);
        }
        KernelTable read = nft.read("upgrade");
        assertTrue(read.tablePresent && read.earlierLayout, "the read-back sees the earlier layout");
        Plan replace = NftDiff.full(c, read, r);
        assertTrue(replace.replace());
        assertTrue(replace.script().startsWith("delete table ip upgrade\nadd table ip upgrade\n"), replace.script());
        assertEquals("delete table ip upgrade\n" + NftDiff.full(c, new KernelTable(), r).script(), replace.script(),
                "the whole table written anew, as from empty");
        for (Plan.Group g : replace.groups()) {
            assertFalse(replace.script(List.of(g)).contains("delete table"), "only the transaction with the fixed part deletes the table");
        }
        try {
            try (NftablesDataPlane p = plane(c)) {
                p.sync(b.build(1), true);
                assertTrue(p.rejected().isEmpty(), p.rejected().toString());
            }
            String text = run("ip", "netns", "exec", NS, "nft", "list", "table", "ip", "upgrade");
            assertFalse(text.contains("tcp dport"), text);
            assertFalse(text.contains("10.96.9.9"), "nothing of the old table is left: " + text);
            for (int n = 1; n <= 8; n++) {
                for (String chain : List.of("slots_" + n, "pslots_" + n)) {
                    String netlink = run("ip", "netns", "exec", NS, "nft", "--debug=netlink", "list", "chain", "ip", "upgrade", chain);
                    assertFalse(netlink.contains("cmp eq reg 1"), "no protocol match in " + chain + ": " + netlink);
                    assertTrue(netlink.contains("nat dnat ip"), netlink);
                }
            }
            read = nft.read("upgrade");
            assertFalse(read.earlierLayout, "the new layout reads back as itself");
            assertEquals(elements(r), elements(read));
            // and a restart now adopts it: nothing replaced, no element sent
            Plan adopt = NftDiff.full(c, read, r);
            assertFalse(adopt.replace());
            assertFalse(adopt.script().contains("element"), adopt.script());
            assertFalse(adopt.script().contains("delete"), adopt.script());
        } finally {
            NftablesDataPlane.cleanup(c, Exec.inNetns(NS));
        }
    }

    /** Every name {@link NftConfig} refuses as a keyword is one this host's nft cannot read as a table name (or a later nft's). */
    @Test
    void keywords_refusedAsTableNames_areThoseNftCannotRead() throws Exception {
        List<String> all = new java.util.ArrayList<>(new java.util.TreeSet<>(NftConfig.KEYWORDS));
        all.add("portolan");
        all.add("nat");
        Set<String> refused = new java.util.TreeSet<>();
        StringBuilder errors = new StringBuilder();
        // nft -c (check only) reports the syntax error of each line, up to 10 a run: 8 words a run
        for (int i = 0; i < all.size(); i += 8) {
            List<String> words = all.subList(i, Math.min(all.size(), i + 8));
            StringBuilder script = new StringBuilder();
            words.forEach(w -> script.append("add table ip ").append(w).append('\n'));
            Exec.Result r = Exec.inNetns(NS).run(List.of("nft", "-c", "-f", "-"), script.toString(), java.time.Duration.ofSeconds(30));
            errors.append(r.err());
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^/dev/stdin:(\\d+):\\d+-\\d+: Error: syntax error").matcher(r.err());
            while (m.find()) {
                refused.add(words.get(Integer.parseInt(m.group(1)) - 1));
            }
        }
        assertFalse(refused.contains("portolan") || refused.contains("nat"), refused.toString());
        Set<String> newer = Set.of("destroy", "geneve", "gre", "gretap", "last", "tunnel", "vni", "vxlan");
        Set<String> expected = new java.util.TreeSet<>(NftConfig.KEYWORDS);
        expected.removeAll(newer);
        String version = run("nft", "--version");
        if (version.contains("v1.0.6 ")) { // Debian 12's: exactly these
            assertEquals(expected, refused, version + errors);
        } else { // a later nft: these and some of the newer ones
            assertTrue(refused.containsAll(expected) && NftConfig.KEYWORDS.containsAll(refused), version + errors);
        }
    }

    /**
     * Why a full sync rewrites no slot chain of a table it adopts (and replaces the table when one must change): nft 1.0.6
     * cannot read a rule using a backend map it loaded from the kernel, whose typeof data is {@code ip daddr . th dport}
     * ("internal:0:0-0: Error: conflicting protocols specified: ip vs. th"); the session reports that refusal as one.
     */
    @Test
    void slotRule_againstBackendMapReadFromKernel_refusedAndReportedAsRefused() throws Exception {
        NftConfig c = NftConfig.parse(Map.of("nft-slots", "4", "nft-table", "reread"));
        Nft own = new Nft(Exec.inNetns(NS));
        try {
            own.apply(NftDiff.full(c, new KernelTable(), NftRender.render(NftRenderGoldenTest.golden().build(1), c)).script());
            String rewrite = "flush chain ip reread slots_1\nadd rule ip reread slots_1 dnat to ip daddr . meta l4proto . th dport"
                    + " . numgen random mod 1 map @backends\n";
            Nft.NftException refused = org.junit.jupiter.api.Assertions.assertThrows(Nft.NftException.class, () -> own.apply(rewrite));
            assertTrue(refused.getMessage().contains("conflicting protocols"), refused.getMessage());
            KernelTable read = own.read("reread");
            assertTrue(read.tablePresent && !read.earlierLayout);
            Ruleset r = NftRender.render(NftRenderGoldenTest.golden().build(1), c);
            assertEquals("meta mark set meta mark | 0x00004000\ndnat to ip daddr . meta l4proto . th dport . numgen random mod 2 map @backends",
                    read.find("c slots_2").value(), "slot chains read back as the text the plane writes");
            assertFalse(NftDiff.slotChainsToWrite(read, r.common()));
            assertFalse(NftDiff.full(c, read, r).replace(), "the same configuration: adopted");
            NftConfig more = NftConfig.parse(Map.of("nft-slots", "5", "nft-table", "reread"));
            assertTrue(NftDiff.full(more, read, NftRender.render(NftRenderGoldenTest.golden().build(1), more)).replace(), "a new slot chain");
            NftConfig unmarked = NftConfig.parse(Map.of("nft-slots", "4", "nft-table", "reread", "nft-masquerade", "none"));
            assertTrue(NftDiff.full(unmarked, read, NftRender.render(NftRenderGoldenTest.golden().build(1), unmarked)).replace(),
                    "slot chains without the mark rule");
        } finally {
            own.close();
            NftablesDataPlane.cleanup(c, Exec.inNetns(NS));
        }
    }

    @Test
    void sync_restartWithOtherSlotCount_replacesTableAndServes() throws Exception {
        Snapshots b = NftRenderGoldenTest.golden();
        NftConfig c = NftConfig.parse(Map.of("nft-table", "slotcount")); // 64 slots: a full sync's script goes to nft -f -
        try {
            try (NftablesDataPlane p = plane(c)) {
                p.sync(b.build(1), true);
            }
            for (NftConfig restart : List.of(c, NftConfig.parse(Map.of("nft-table", "slotcount", "nft-slots", "65")), c)) {
                try (NftablesDataPlane p = plane(restart)) {
                    p.sync(b.build(1), true); // throws if nft refused the table
                    assertTrue(p.rejected().isEmpty(), p.rejected().toString());
                }
                KernelTable read = nft.read("slotcount");
                assertEquals(elements(NftRender.render(b.build(1), restart)), elements(read));
                assertTrue(read.find("c slots_65") != null == (restart.slots() == 65), "slot chains of " + restart.slots());
                assertFalse(NftDiff.full(restart, read, NftRender.render(b.build(1), restart)).replace());
            }
        } finally {
            NftablesDataPlane.cleanup(c, Exec.inNetns(NS));
        }
    }

    @Test
    void oneLine_dropsCommentsAndJoinsCommands() {
        assertEquals("add table ip t; add chain ip t c", NftSession.oneLine("# t\nadd table ip t\n\n  add chain ip t c\n"));
    }
}
