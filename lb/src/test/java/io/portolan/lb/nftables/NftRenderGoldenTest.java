package io.portolan.lb.nftables;

import io.portolan.proto.Health;
import io.portolan.proto.testing.Snapshots;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Golden text of render + diff: the whole transaction from an empty kernel, and the incremental one
 * for a single instance change. Regenerate with {@code -Dgolden.update=true} and review the diff.
 */
class NftRenderGoldenTest {
    static final NftConfig CONFIG = NftConfig.parse(Map.of("nft-slots", "4"));

    /** The golden snapshot: weighted, UDP, sh, published, dnsrr, no instances. */
    static Snapshots golden() {
        return Snapshots.builder().node("node1")
                .vip("web", "10.96.0.10", "http:80/tcp").scheduler("wrr").published("8080:8080/tcp")
                .instance("web", "a", "10.1.0.1", "http:8080/tcp")
                .instance("web", "b", "10.1.0.2", "http:8080/tcp")
                .instance("web", "c", "10.1.0.3", 200, Health.HEALTHY, "http:8080/tcp")
                .vip("dns", "10.96.0.53", "53/udp").scheduler("rr")
                .instance("dns", "d1", "10.1.1.1")
                .instance("dns", "d2", "10.1.1.2")
                .vip("api", "10.96.0.20", "https:443/tcp").scheduler("sh")
                .instance("api", "x", "10.1.2.1", "https:8443/tcp")
                .instance("api", "y", "10.1.2.2", "https:8443/tcp")
                .dnsrr("db", "5432/tcp")
                .instance("db", "p1", "10.1.3.1")
                .vip("empty", "10.96.0.30", "http:80/tcp").scheduler("wrr");
    }

    static void assertGolden(String name, String actual) throws IOException {
        Path p = Path.of("src/test/resources/nftables", name);
        if (Boolean.getBoolean("golden.update")) {
            Files.writeString(p, actual, StandardCharsets.UTF_8);
        }
        assertEquals(Files.readString(p, StandardCharsets.UTF_8), actual, "golden file " + p);
    }

    /** A kernel that holds {@code r} as a full plan from empty put it there. */
    static KernelTable loaded(Ruleset r) {
        KernelTable k = new KernelTable();
        return NftIncrementalTest.applied(NftDiff.full(CONFIG, k, r), k);
    }

    @Test
    void fullPlan_fromEmptyKernel_matchesGolden() throws IOException {
        Ruleset r = NftRender.render(golden().build(1), CONFIG);
        assertGolden("full-from-empty.nft", NftDiff.full(CONFIG, new KernelTable(), r).script());
    }

    @Test
    void incrementalPlan_oneInstanceRemoved_rewritesOnlyThatService() throws IOException {
        Snapshots b = golden();
        Ruleset before = NftRender.render(b.build(1), CONFIG);
        KernelTable k = loaded(before);
        Ruleset after = NftRender.render(b.remove("web", "c").build(2), CONFIG);
        Plan plan = NftDiff.incremental(CONFIG, k, before, after, Set.of());
        assertEquals(1, plan.groups().size());
        assertEquals("web", plan.groups().get(0).owner());
        assertGolden("incremental-web-instance-removed.nft", plan.script());
    }

    @Test
    void incrementalPlan_shInstanceAdded_keepsOtherInstancesAffinitySets() throws IOException {
        Snapshots b = golden();
        Ruleset before = NftRender.render(b.build(1), CONFIG);
        KernelTable k = loaded(before);
        b.instance("api", "z", "10.1.2.3", "https:8443/tcp");
        Plan plan = NftDiff.incremental(CONFIG, k, before, NftRender.render(b.build(2), CONFIG), Set.of());
        assertGolden("incremental-api-instance-added.nft", plan.script());
    }

    @Test
    void incrementalPlan_nothingChanged_isEmpty() {
        Ruleset before = NftRender.render(golden().build(1), CONFIG);
        KernelTable k = loaded(before);
        Plan plan = NftDiff.incremental(CONFIG, k, before, NftRender.render(golden().build(2), CONFIG), Set.of());
        assertTrue(plan.isEmpty(), plan.script());
    }

    @Test
    void fullPlan_afterAdoption_sendsOnlyChainRewrites() {
        Ruleset r = NftRender.render(golden().build(1), CONFIG);
        KernelTable k = loaded(r);
        // what a restarted agent reads back: the same objects, owners and chain rules unknown
        KernelTable read = new KernelTable();
        k.objects().forEach(o -> read.put(switch (o.kind()) {
            case ELEMENT -> NftObject.element(o.container(), o.key(), o.value());
            case CHAIN -> NftObject.chain(o.key(), o.container(), null, null);
            case SET -> NftObject.set(o.key(), null, null);
        }));
        read.tablePresent = true;
        String script = NftDiff.full(CONFIG, read, r).script();
        assertTrue(!script.contains("element"), script);
        assertTrue(!script.contains("delete"), script);
    }

    @Test
    void fullPlan_overATableOfAnEarlierLayout_deletesItAndWritesEverythingAnew() throws IOException {
        Ruleset r = NftRender.render(golden().build(1), CONFIG);
        KernelTable read = new KernelTable();
        read.put(NftObject.element(NftRender.VIPS, "10.96.0.10 . tcp . 80", "goto slots_4"));
        read.put(NftObject.element(NftRender.VIPS, "10.96.9.9 . tcp . 99", "goto slots_1"));
        read.put(NftObject.chain("slots_4", "", null, null));
        read.tablePresent = true;
        read.earlierLayout = true;
        Plan plan = NftDiff.full(CONFIG, read, r);
        assertTrue(plan.replace());
        assertEquals("delete table ip portolan\n" + Files.readString(Path.of("src/test/resources/nftables/full-from-empty.nft")),
                plan.script());
        read.earlierLayout = false;
        assertTrue(!NftDiff.full(CONFIG, read, r).replace() && !NftDiff.full(CONFIG, read, r).script().contains("delete table"));
    }

    @Test
    void slotCounts_weightsBecomeSlots() {
        assertArrayEquals(new int[] {1, 1, 1}, NftRender.slotCounts(new int[] {100, 100, 100}, 64));
        assertArrayEquals(new int[] {1, 2}, NftRender.slotCounts(new int[] {50, 100}, 64));
        assertArrayEquals(new int[] {1, 3}, NftRender.slotCounts(new int[] {1, 3}, 4));
        assertArrayEquals(new int[] {1, 15}, NftRender.slotCounts(new int[] {1, 10_000}, 16));
        assertArrayEquals(new int[] {5, 11}, NftRender.slotCounts(new int[] {33, 67}, 16));
        assertArrayEquals(new int[] {1, 1, 1, 1}, NftRender.slotCounts(new int[] {1, 2, 3, 4}, 4));
        int[] c = NftRender.slotCounts(new int[] {7, 11, 13, 17, 19}, 64);
        int sum = 0;
        for (int x : c) {
            sum += x;
        }
        assertEquals(64, sum);
    }
}
