package io.portolan.lb.ipvs;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Protocol;
import io.portolan.proto.testing.Snapshots;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.portolan.proto.testing.Snapshots.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Golden tests of the ipvsadm -R batches: from empty, one instance added, graceful removal, adoption, rejection. */
class IpvsDiffTest {
    static final long DRAIN = 30_000;
    static final Set<Integer> NO_RESERVED = Set.of();

    /** The sync loop without I/O: render, diff, apply the ops to the kernel table. */
    static final class Loop {
        final KernelTable kernel = new KernelTable();
        final IpvsDiff.Drains drains = new IpvsDiff.Drains();
        final Map<Integer, Plan.VirtualService> rejected = new HashMap<>();
        Map<MarkedPort, Integer> rules = new HashMap<>();
        Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> counts = new HashMap<>();
        final IpvsRender.Cache cache = new IpvsRender.Cache();
        Plan previous;
        boolean usedChangedMarks;

        /** One incremental sync (render with the cache, diff against the previous plan), as the syncer does. */
        IpvsDiff.Changes step(Snapshots s, long now) {
            ClusterSnapshot snapshot = s.build(now);
            Plan plan = IpvsRender.render(snapshot, IpvsRenderTest.BASE, IpvsRenderTest.BITS, rules, NO_RESERVED, cache);
            assertEquals(IpvsRender.render(snapshot, IpvsRenderTest.BASE, IpvsRenderTest.BITS, rules, NO_RESERVED), plan,
                    "the cached render equals a fresh one");
            Map<Integer, MarkedPort> frontends = new HashMap<>();
            rules.forEach((f, m) -> frontends.put(m, f));
            // the diff of only the marks the render says it changed agrees with the one that compares every service
            IpvsDiff.Drains copy = new IpvsDiff.Drains();
            drains.since.forEach((m, r) -> copy.since.put(m, new HashMap<>(r)));
            IpvsDiff.Changes walked = IpvsDiff.compute(kernel, plan, previous, null, frontends, rejected, copy, counts, now, DRAIN);
            IpvsDiff.Changes c = IpvsDiff.compute(kernel, plan, previous, cache.changedSince(previous), frontends, rejected, drains, counts,
                    now, DRAIN);
            assertEquals(walked, c, "diff of the changed marks only");
            assertEquals(copy.since, drains.since);
            if (previous != null && plan != previous) {
                usedChangedMarks |= cache.changedSince(previous) != null;
            }
            // the incremental diff must agree with a full one: after it, a full diff finds nothing but drains
            previous = plan;
            c.ops().forEach(o -> o.applyTo(kernel));
            Map<MarkedPort, Integer> next = new HashMap<>();
            kernel.services.keySet().forEach(m -> next.put(plan.services().containsKey(m) ? plan.services().get(m).frontend() : frontends.get(m), m));
            if (!next.equals(rules)) {
                rules = next; // like the syncer: the rules map is replaced only when a rule changes
            }
            IpvsDiff.Changes check = IpvsDiff.compute(kernel, plan, null, frontends, rejected, new IpvsDiff.Drains(), Map.of(), now, Long.MAX_VALUE);
            assertTrue(check.ops().stream().allMatch(o -> o.kind() == IpvsDiff.Kind.EDIT_REAL && o.weight() == 0
                    || rejected.containsKey(o.mark())), "a full diff after the incremental one: " + check.batch());
            return c;
        }
    }

    @Test
    void fromEmpty_oneBatch_matchesGolden() throws Exception {
        Loop l = new Loop();
        IpvsDiff.Changes c = l.step(IpvsRenderTest.cluster(), 0);
        Golden.check("batch-from-empty.golden", c.batch());
        assertTrue(l.step(IpvsRenderTest.cluster(), 1).isEmpty(), "a second sync of the same snapshot changes nothing");
    }

    @Test
    void oneInstanceAdded_isOneLine() throws Exception {
        Loop l = new Loop();
        Snapshots s = IpvsRenderTest.cluster();
        l.step(s, 0);
        s.instance("web", "w5", "10.0.1.5", "http:8080/tcp");
        IpvsDiff.Changes c = l.step(s, 1);
        Golden.check("batch-one-instance-added.golden", c.batch());
        assertEquals(1, c.ops().size());
    }

    @Test
    void instanceRemoved_weightZero_thenDeletedWhenIdle() throws Exception {
        Loop l = new Loop();
        Snapshots s = IpvsRenderTest.cluster();
        l.step(s, 0);
        s.remove("web", "w2");
        IpvsDiff.Changes drain = l.step(s, 1_000);
        assertEquals(List.of("-e -f " + mark(l, "10.99.0.5", 80) + " -r 10.0.1.2:8080 -m -w 0"), lines(drain));
        // still connected: stays at weight 0
        l.counts.put(mark(l, "10.99.0.5", 80), Map.of(new Plan.RealServer(ip("10.0.1.2"), 8080), new KernelTable.Connections(1, 3)));
        assertTrue(l.step(s, 2_000).isEmpty());
        l.counts.put(mark(l, "10.99.0.5", 80), Map.of(new Plan.RealServer(ip("10.0.1.2"), 8080), new KernelTable.Connections(0, 0)));
        IpvsDiff.Changes delete = l.step(s, 3_000);
        Golden.check("batch-one-instance-removed.golden", drain.batch() + delete.batch());
        assertEquals(List.of("-d -f " + mark(l, "10.99.0.5", 80) + " -r 10.0.1.2:8080"), lines(delete));
        assertTrue(l.drains.isEmpty());
    }

    @Test
    void manyInstanceChanges_cachedRenderMatchesFresh_eachBatchSmall() {
        Loop l = new Loop();
        Snapshots s = IpvsRenderTest.cluster();
        l.step(s, 0);
        for (int i = 0; i < 20; i++) {
            s.instance("web", "n" + i, "10.0.7." + (i + 1), "http:8080/tcp");
            s.instance("dns", "m" + i, "10.0.8." + (i + 1));
            IpvsDiff.Changes c = l.step(s, 1 + i);
            assertEquals(3, c.ops().size(), c.batch()); // web:80, dns tcp:53 and udp:53
            if (i % 3 == 0) {
                s.remove("web", "n" + i);
                assertEquals(1, l.step(s, 100 + i).ops().size());
            }
        }
    }

    @Test
    void instanceChanges_withoutPublishedPorts_takeTheFastPath_andMatchAFreshRender() {
        Loop l = new Loop();
        Snapshots s = Snapshots.incremental().node("node1")
                .vip("a", "10.99.1.1", "http:80/tcp", "dns:53/udp").scheduler("rr")
                .instance("a", "a1", "10.0.1.1", "http:8080/tcp", "dns:53/udp")
                .vip("b", "10.99.1.2", "http:80/tcp").scheduler("wrr")
                .instance("b", "b1", "10.0.2.1", "http:80/tcp")
                .vip("six", "fd00::1", "http:80/tcp").scheduler("rr")
                .dnsrr("rr", "http:80/tcp").scheduler("rr");
        l.step(s, 0);
        for (int i = 0; i < 10; i++) {
            Plan before = l.previous;
            s.instance("a", "n" + i, "10.0.7." + (i + 1), "http:8080/tcp");
            s.instance("rr", "r" + i, "10.0.9." + (i + 1), "http:80/tcp");
            assertEquals(1, l.step(s, 1 + i).ops().size());
            assertTrue(i == 0 || l.previous.vips() == before.vips(), "patched, not rendered again (i=" + i + ")");
            assertTrue(i == 0 || l.usedChangedMarks, "the diff used the render's changed marks (i=" + i + ")");
            s.remove("a", "n" + i);
            IpvsDiff.Changes drain = l.step(s, 100 + i);
            assertEquals(List.of("-e -f " + mark(l, "10.99.1.1", 80) + " -r 10.0.7." + (i + 1) + ":8080 -m -w 0"), lines(drain));
        }
    }

    @Test
    void instanceRemoved_stillConnected_deletedAfterDrainTimeout() {
        Loop l = new Loop();
        Snapshots s = IpvsRenderTest.cluster();
        l.step(s, 0);
        s.remove("web", "w2");
        l.step(s, 1_000);
        l.counts.put(mark(l, "10.99.0.5", 80), Map.of(new Plan.RealServer(ip("10.0.1.2"), 8080), new KernelTable.Connections(5, 0)));
        assertTrue(l.step(s, 1_000 + DRAIN - 1).isEmpty());
        assertEquals(1, l.step(s, 1_000 + DRAIN).ops().size());
    }

    @Test
    void instanceBackWhileDraining_getsItsWeightBack() {
        Loop l = new Loop();
        Snapshots s = IpvsRenderTest.cluster();
        l.step(s, 0);
        s.remove("web", "w2");
        l.step(s, 1_000);
        s.instance("web", "w2", "10.0.1.2", "http:8080/tcp");
        assertEquals(List.of("-e -f " + mark(l, "10.99.0.5", 80) + " -r 10.0.1.2:8080 -m -w 100"), lines(l.step(s, 2_000)));
        assertTrue(l.drains.isEmpty());
    }

    @Test
    void udpRealServerRemoved_conntrackCleared() {
        Loop l = new Loop();
        Snapshots s = IpvsRenderTest.cluster();
        l.step(s, 0);
        s.remove("dns", "d1");
        l.step(s, 1);
        int udpMark = l.rules.get(new MarkedPort(Protocol.UDP, ip("10.99.0.6"), 53));
        l.counts.put(udpMark, Map.of(new Plan.RealServer(ip("10.0.2.1"), 5353), new KernelTable.Connections(0, 0)));
        IpvsDiff.Changes c = l.step(s, 2);
        assertEquals(List.of(new IpvsDiff.ConntrackClear(new MarkedPort(Protocol.UDP, ip("10.99.0.6"), 53),
                new Plan.RealServer(ip("10.0.2.1"), 5353))), c.clears());
    }

    @Test
    void serviceRemoved_drainsThenDeletesTheService() {
        Loop l = new Loop();
        Snapshots s = Snapshots.incremental().node("node1")
                .vip("a", "10.99.0.9", "dns:53/udp").scheduler("rr").instance("a", "1", "10.0.9.1");
        l.step(s, 0);
        int m = mark(l, "10.99.0.9", 53);
        IpvsDiff.Changes drain = l.step(Snapshots.incremental(), 1);
        assertEquals(List.of("-e -f " + m + " -r 10.0.9.1:53 -m -w 0"), lines(drain));
        IpvsDiff.Changes gone = l.step(Snapshots.incremental(), 1 + DRAIN);
        assertEquals(List.of("-D -f " + m), lines(gone));
        assertEquals(1, gone.clears().size());
        assertTrue(l.kernel.services.isEmpty());
    }

    @Test
    void adoptedKernelState_sameSnapshot_changesNothing() {
        Loop first = new Loop();
        first.step(IpvsRenderTest.cluster(), 0);
        // a restarted agent: reads the table and the rules back
        Loop second = new Loop();
        KernelTable read = KernelTable.parseSave(first.kernel.text(), m -> (m & 0xfff00000) == IpvsRenderTest.BASE);
        second.kernel.services.putAll(read.services);
        second.rules = MarkRules.parse(MarkRules.script(true, first.rules, Map.of(), Map.of()));
        // (a restarted agent has no previous plan: its first diff compares every mark)
        assertTrue(second.step(IpvsRenderTest.cluster(), 1).isEmpty());
    }

    @Test
    void rejectedService_isNotRetriedUntilItChanges() {
        Loop l = new Loop();
        Snapshots s = Snapshots.incremental().node("node1")
                .vip("bad", "10.99.0.8", "http:80/tcp").scheduler("nosuch").instance("bad", "1", "10.0.8.1");
        IpvsDiff.Changes c = l.step(s, 0);
        assertEquals(2, c.ops().size());
        // the kernel refused: the table has nothing for it, the syncer records the refusal
        l.kernel.services.clear();
        Plan plan = IpvsRenderTest.render(s.build(1), Map.of());
        l.rejected.putAll(plan.services());
        l.rules = new HashMap<>();
        l.previous = null;
        assertTrue(l.step(s, 1).isEmpty());
        s.vip("bad", "10.99.0.8", "http:80/tcp").scheduler("rr");
        assertEquals(2, l.step(s, 2).ops().size());
    }

    @Test
    void kernelTable_parsesIpvsadmOutput() {
        String save = String.join("\n", "-A -t 10.1.1.1:80 -s rr", "-A -f 100 -s rr", "-a -f 100 -r 10.0.0.1:80 -m -w 5",
                "-A -f 201326593 -s wrr -p 300", "-a -f 201326593 -r 10.0.0.3:80 -g -w 1", "-a -f 201326593 -r [fd00::1]:80 -m -w 1", "");
        KernelTable t = KernelTable.parseSave(save, m -> m != 100);
        assertEquals(Set.of(201326593), t.services.keySet());
        assertEquals("-A -f 201326593 -s wrr\n-a -f 201326593 -r 10.0.0.3:80 -g -w 1\n", t.text());
        String list = String.join("\n", "IP Virtual Server version 1.2.1 (size=4096)", "Prot LocalAddress:Port Scheduler Flags",
                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn", "FWM  100 rr",
                "  -> 10.0.0.1:80                  Masq    5      2          7         ");
        assertEquals(Map.of(new Plan.RealServer(ip("10.0.0.1"), 80), new KernelTable.Connections(2, 7)), KernelTable.parseList(list));
    }

    static int mark(Loop l, String vip, int port) {
        return l.rules.get(new MarkedPort(Protocol.TCP, ip(vip), port)) != null ? l.rules.get(new MarkedPort(Protocol.TCP, ip(vip), port))
                : l.rules.get(new MarkedPort(Protocol.UDP, ip(vip), port));
    }

    static List<String> lines(IpvsDiff.Changes c) {
        return c.ops().stream().map(IpvsDiff.Op::line).toList();
    }
}
