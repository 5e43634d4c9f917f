package io.portolan.lb.ipvs;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Protocol;
import io.portolan.proto.testing.Snapshots;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import static io.portolan.proto.testing.Snapshots.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Golden tests of the pure render step and of the mark allocation. */
class IpvsRenderTest {
    static final int BASE = IpvsConfig.DEFAULT_MARK_BASE;
    static final int BITS = IpvsConfig.DEFAULT_MARK_BITS;

    /** web (rr, three instances, one unhealthy, one weight 50), dns over UDP, a published port, dnsrr, IPv6. */
    static Snapshots cluster() {
        return Snapshots.incremental().node("node1")
                .vip("web", "10.99.0.5", "http:80/tcp").scheduler("rr").published("8080:8080/tcp")
                .instance("web", "w1", "10.0.1.1", "http:8080/tcp")
                .instance("web", "w2", "10.0.1.2", "http:8080/tcp")
                .instance("web", "w3", "10.0.1.3", 50, Health.HEALTHY, "http:8080/tcp")
                .instance("web", "w4", "10.0.1.4", 100, Health.UNHEALTHY, "http:8080/tcp")
                .vip("dns", "10.99.0.6", "dns:53/udp", "dns:53/tcp").scheduler("sh")
                .instance("dns", "d1", "10.0.2.1", "dns:5353/udp", "dns:5353/tcp")
                .instance("dns", "d2", "10.0.2.2")
                .dnsrr("db", "pg:5432/tcp").scheduler("wrr")
                .instance("db", "p1", "10.0.3.1", "pg:5432/tcp")
                .vip("six", "fd00::5", "http:80/tcp").scheduler("wrr")
                .instance("six", "s1", "fd00::10", "http:80/tcp")
                .vip("other", "10.99.0.7", "http:80/tcp").scheduler("wlc").published("8080:80/tcp")
                .instance("other", "o1", "10.0.4.1", "http:80/tcp")
                .instance("other", "o2", "fd00::11", "http:80/tcp");
    }

    static Plan render(ClusterSnapshot s, Map<MarkedPort, Integer> adopted) {
        return IpvsRender.render(s, BASE, BITS, adopted, Set.of());
    }

    @Test
    void render_cluster_matchesGolden() throws Exception {
        Golden.check("render.golden", render(cluster().build(1), Map.of()).text());
    }

    @Test
    void render_twice_isTheSame() {
        assertEquals(render(cluster().build(1), Map.of()), render(cluster().build(2), Map.of()));
    }

    @Test
    void render_adoptedMarks_areKeptEvenWhenTheHashDiffers() {
        MarkedPort web = new MarkedPort(Protocol.TCP, ip("10.99.0.5"), 80);
        int adopted = BASE + 7;
        Plan p = render(cluster().build(1), Map.of(web, adopted));
        assertEquals(web, p.services().get(adopted).frontend());
        assertEquals("web", p.services().get(adopted).service());
    }

    @Test
    void render_twoFrontendsAdoptingOneMark_firstInOrderKeepsIt() {
        MarkedPort dns = new MarkedPort(Protocol.TCP, ip("10.99.0.6"), 53);
        MarkedPort web = new MarkedPort(Protocol.TCP, ip("10.99.0.5"), 80);
        for (int i = 0; i < 5; i++) {
            Plan p = render(cluster().build(i), Map.of(web, BASE + 7, dns, BASE + 7));
            assertEquals(web, p.services().get(BASE + 7).frontend());
            assertNotEquals(BASE + 7, p.marks().get(dns));
        }
    }

    @Test
    void render_adoptedMarkOutsideTheRange_isReplaced() {
        MarkedPort web = new MarkedPort(Protocol.TCP, ip("10.99.0.5"), 80);
        Plan p = render(cluster().build(1), Map.of(web, 0x103));
        assertTrue(p.services().keySet().stream().allMatch(m -> (m & ~((1 << BITS) - 1)) == BASE));
        assertEquals(p.services().size(), new HashSet<>(p.marks().values()).size());
    }

    @Test
    void render_collisions_probeToDistinctMarks_deterministically() {
        Snapshots s = Snapshots.incremental();
        for (int i = 0; i < 200; i++) {
            s.vip("s" + i, "10.98." + (i / 200) + "." + (i % 200 + 1), "http:80/tcp").scheduler("rr");
        }
        Plan a = IpvsRender.render(s.build(1), BASE, 8, Map.of(), Set.of());
        Plan b = IpvsRender.render(s.build(1), BASE, 8, Map.of(), Set.of());
        assertEquals(200, a.services().size(), a.problems().toString());
        assertEquals(a.marks(), b.marks());
        Map<Integer, Integer> hashSlots = new HashMap<>();
        for (MarkedPort f : a.marks().keySet()) {
            hashSlots.merge(IpvsRender.fnv1a(f.key()) & 0xff, 1, Integer::sum);
        }
        assertTrue(hashSlots.values().stream().anyMatch(n -> n > 1), "the test needs at least one collision");
    }

    @Test
    void render_markSpaceFull_namesTheService() {
        Snapshots s = Snapshots.incremental();
        for (int i = 0; i < 257; i++) {
            s.vip("s" + i, "10.98." + (i / 200) + "." + (i % 200 + 1), "http:80/tcp").scheduler("rr");
        }
        Plan p = IpvsRender.render(s.build(1), BASE, 8, Map.of(), Set.of());
        assertEquals(256, p.services().size());
        assertEquals(1, p.problems().size());
        assertTrue(p.problems().get(0).contains("no free firewall mark"), p.problems().toString());
    }

    @Test
    void render_reservedMarks_areNotHandedOut() {
        Plan free = render(cluster().build(1), Map.of());
        int webMark = free.marks().get(new MarkedPort(Protocol.TCP, ip("10.99.0.5"), 80));
        Plan p = IpvsRender.render(cluster().build(1), BASE, BITS, Map.of(), Set.of(webMark));
        assertNotEquals(webMark, p.marks().get(new MarkedPort(Protocol.TCP, ip("10.99.0.5"), 80)));
    }

    @Test
    void markRules_full_matchGolden_andParseBack() throws Exception {
        Plan p = render(cluster().build(1), Map.of());
        String script = MarkRules.script(true, p.marks(), Map.of(), Map.of());
        Golden.check("mark-rules.golden", script);
        // iptables-save prints the rules as they were written: they parse back to the same marks (adoption)
        assertEquals(p.marks(), MarkRules.parse(script.replace("-I " + MarkRules.CHAIN + " 1 ", "-A " + MarkRules.CHAIN + " ")));
    }

    @Test
    void snatRule_matchesGolden() throws Exception {
        Golden.check("snat.golden", MarkRules.snatScript(BASE, ~((1 << BITS) - 1), null)
                + MarkRules.snatScript(BASE, ~((1 << BITS) - 1), "10.0.0.0/8"));
    }
}
