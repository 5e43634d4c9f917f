package io.portolan.lb.nftables;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The incremental path: {@link FragmentCache} re-renders only the services a shared snapshot
 * ({@link ClusterSnapshot#next}) changed, and {@link NftDiff#incremental} driven by its
 * {@link FragmentCache#changed} names touches only their objects; the result equals a full render's.
 */
class NftIncrementalTest {
    static final NftConfig CONFIG = NftRenderGoldenTest.CONFIG;

    static KernelTable applied(Plan p, KernelTable k) {
        k.accept(p.pre());
        p.groups().forEach(k::accept);
        k.accept(p.post());
        k.tablePresent = true;
        return k;
    }

    @Test
    void render_nextSnapshotOneInstanceRemoved_rerendersOnlyThatServiceAndPlanMatchesGolden() throws IOException {
        ClusterSnapshot s1 = NftRenderGoldenTest.golden().build(1);
        FragmentCache cache = new FragmentCache(CONFIG);
        Ruleset r1 = cache.render(s1);
        assertNull(cache.changed(), "the first render walks every service");
        assertEquals(NftRender.render(s1, CONFIG), r1);
        KernelTable k = applied(NftDiff.full(CONFIG, new KernelTable(), r1), new KernelTable());

        Map<String, List<Instance>> instances = new HashMap<>(s1.instancesByService());
        List<Instance> web = new ArrayList<>(instances.get("web"));
        web.removeIf(i -> i.id().equals("c"));
        instances.put("web", web);
        ClusterSnapshot s2 = ClusterSnapshot.next(s1, 2, s1.services(), instances, Set.of("web"));
        Ruleset r2 = cache.render(s2);

        assertEquals(Set.of("web"), cache.changed());
        assertEquals(1, cache.fresh().size());
        for (String other : List.of("api", "db", "dns", "empty")) {
            assertSame(r1.service(other), r2.service(other), other + " keeps its fragment");
        }
        assertEquals(NftRender.render(s2, CONFIG), r2);
        Plan plan = NftDiff.incremental(CONFIG, k, r1, r2, cache.changed(), Set.of());
        assertEquals(List.of("web"), plan.groups().stream().map(Plan.Group::owner).toList());
        for (Plan.Op op : plan.groups().get(0).ops()) {
            assertTrue(op.object().id().contains("10.96.0.10") || op.object().id().contains("8080"), op.toString());
        }
        // the same text as the plan found by comparing every fragment
        String golden = Files.readString(Path.of("src/test/resources/nftables/incremental-web-instance-removed.nft"), StandardCharsets.UTF_8);
        assertEquals(golden, plan.script());
    }

    @Test
    void render_nextSnapshotNothingChanged_returnsSameRulesetAndEmptyPlan() {
        ClusterSnapshot s1 = NftRenderGoldenTest.golden().build(1);
        FragmentCache cache = new FragmentCache(CONFIG);
        Ruleset r1 = cache.render(s1);
        KernelTable k = applied(NftDiff.full(CONFIG, new KernelTable(), r1), new KernelTable());
        ClusterSnapshot s2 = ClusterSnapshot.next(s1, 2, s1.services(), s1.instancesByService(), Set.of());
        assertSame(r1, cache.render(s2));
        assertEquals(Set.of(), cache.changed());
        assertTrue(NftDiff.incremental(CONFIG, k, r1, r1, cache.changed(), Set.of()).isEmpty());
    }

    @Test
    void render_equalButNotSharedSnapshot_reusesFragments() {
        FragmentCache cache = new FragmentCache(CONFIG);
        Ruleset r1 = cache.render(NftRenderGoldenTest.golden().build(1));
        Ruleset r2 = cache.render(NftRenderGoldenTest.golden().build(2)); // new objects, equal content
        assertSame(r1, r2);
        assertEquals(Set.of(), cache.changed());
        assertEquals(0, cache.fresh().size());
    }

    // --- random change sequences: incremental == full ---

    private static final String[] SCHEDULERS = {"wrr", "rr", "sh"};

    private static Service randomService(Random rnd, int n) {
        Mode mode = rnd.nextInt(8) == 0 ? Mode.DNSRR : Mode.VIP;
        List<Port> ports = new ArrayList<>();
        ports.add(new Port("http", 80, Protocol.TCP));
        if (rnd.nextBoolean()) {
            ports.add(new Port("", 53, Protocol.UDP));
        }
        // unique VIPs and published ports per service: a contested key is the kernel's call, not the diff's
        List<PublishedPort> published = rnd.nextInt(3) == 0 ? List.of(new PublishedPort(30000 + n, 8080, null)) : null;
        String vip = mode == Mode.VIP ? (rnd.nextInt(10) == 0 ? "fd00::" + (n + 1) : "10.96.0." + (n + 1)) : null;
        return new Service("s" + n, mode, ports, vip == null ? null : Validate.address("vip", vip),
                SCHEDULERS[rnd.nextInt(SCHEDULERS.length)], published, null);
    }

    private static Instance randomInstance(Random rnd, int service, int id) {
        String address = rnd.nextInt(15) == 0 ? "fd01::" + (id + 1) : "10.1." + service + "." + (1 + rnd.nextInt(12));
        List<Port> ports = rnd.nextInt(4) == 0 ? List.of() : List.of(new Port("http", 8000 + rnd.nextInt(3), Protocol.TCP));
        return new Instance("i" + id, "s" + service, "n1", Validate.address("a", address), ports, new int[] {0, 1, 100, 100, 100, 250}[rnd.nextInt(6)],
                rnd.nextInt(6) == 0 ? Health.UNHEALTHY : Health.HEALTHY, Map.of(), null, null);
    }

    @Test
    void render_randomChangeSequences_incrementalEqualsFull() {
        Random rnd = new Random(20261122L);
        int services = 12;
        for (int round = 0; round < 5; round++) {
            Map<String, Service> svc = new TreeMap<>();
            Map<String, List<Instance>> inst = new TreeMap<>();
            int nextId = 0;
            for (int s = 0; s < services; s++) {
                if (rnd.nextInt(4) != 0) {
                    svc.put("s" + s, randomService(rnd, s));
                }
                List<Instance> l = new ArrayList<>();
                for (int i = rnd.nextInt(5); i > 0; i--) {
                    l.add(randomInstance(rnd, s, nextId++));
                }
                inst.put("s" + s, l);
            }
            ClusterSnapshot snap = new ClusterSnapshot(1, svc, inst);
            FragmentCache cache = new FragmentCache(CONFIG);
            Ruleset before = cache.render(snap);
            KernelTable k = applied(NftDiff.full(CONFIG, new KernelTable(), before), new KernelTable());
            for (int step = 0; step < 60; step++) {
                Set<String> touched = new java.util.HashSet<>();
                for (int c = rnd.nextInt(3); c >= 0; c--) {
                    int s = rnd.nextInt(services);
                    String name = "s" + s;
                    touched.add(name);
                    List<Instance> l = new ArrayList<>(inst.getOrDefault(name, List.of()));
                    switch (rnd.nextInt(7)) {
                        case 0 -> l.add(randomInstance(rnd, s, nextId++));
                        case 1 -> {
                            if (!l.isEmpty()) {
                                l.remove(rnd.nextInt(l.size()));
                            }
                        }
                        case 2 -> {
                            if (!l.isEmpty()) { // same id, new weight, health or address
                                Instance old = l.remove(rnd.nextInt(l.size()));
                                Instance fresh = randomInstance(rnd, s, 0);
                                l.add(new Instance(old.id(), old.service(), old.node(), fresh.address(), fresh.ports(), fresh.weight(),
                                        fresh.health(), Map.of(), null, null));
                            }
                        }
                        case 3 -> svc.put(name, randomService(rnd, s));
                        case 4 -> svc.remove(name);
                        case 5 -> { // metadata only: same fragment
                            if (!l.isEmpty()) {
                                Instance old = l.remove(0);
                                l.add(new Instance(old.id(), old.service(), old.node(), old.address(), old.ports(), old.weight(),
                                        old.health(), Map.of("step", "" + step), null, null));
                            }
                        }
                        default -> {
                        }
                    }
                    inst.put(name, l);
                }
                ClusterSnapshot next = rnd.nextInt(8) == 0
                        ? new ClusterSnapshot(snap.revision() + 1, svc, inst) // nothing shared: everything compared
                        : ClusterSnapshot.next(snap, snap.revision() + 1, svc, inst, touched);
                Ruleset desired = cache.render(next);
                Ruleset full = NftRender.render(next, CONFIG);
                String where = "round " + round + " step " + step + " touched " + touched;
                assertEquals(full, desired, where);
                Plan scanned = NftDiff.incremental(CONFIG, k, before, desired, Set.of());
                Plan plan = NftDiff.incremental(CONFIG, k, before, desired, cache.changed(), Set.of());
                assertEquals(scanned.script(), plan.script(), where);
                for (Plan.Group g : plan.groups()) {
                    assertTrue(cache.changed().contains(g.owner()), where + ": " + g.owner() + " not changed");
                }
                applied(plan, k);
                KernelTable fromEmpty = applied(NftDiff.full(CONFIG, new KernelTable(), full), new KernelTable());
                assertEquals(contents(fromEmpty), contents(k), where);
                assertTrue(NftDiff.full(CONFIG, k, full).groups().stream().allMatch(Plan.Group::sendsNothing), where);
                snap = next;
                before = desired;
            }
        }
    }

    private static Map<String, String> contents(KernelTable k) {
        Map<String, String> m = new TreeMap<>();
        k.objects().forEach(o -> m.put(o.id(), o.container() + " | " + o.value()));
        return m;
    }
}
