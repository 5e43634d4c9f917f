package io.portolan.lb.nftables;

import io.portolan.lb.host.Exec;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * bench/nftables/run.sh: SERVICES × INSTANCES programmed into a fresh network namespace NS through
 * the real plane (render, diff, nft -f -): from empty, one instance change, a restart's adoption
 * (read back + full diff), and the plane's heap. Prints one line per figure.
 * Usage: NftBench NS SERVICES INSTANCES
 */
public final class NftBench {
    public static void main(String[] args) throws Exception {
        String ns = args[0];
        int services = Integer.parseInt(args[1]);
        int instances = Integer.parseInt(args[2]);
        Nft nft = new Nft(Exec.inNetns(ns));
        NftConfig c = NftConfig.parse(Map.of("nft-table", "portolan", "nft-full-resync", "0"));
        Map<String, Service> svc = new HashMap<>();
        Map<String, List<Instance>> inst = new HashMap<>();
        Port http = new Port("http", 80, Protocol.TCP);
        Port backend = new Port("http", 8080, Protocol.TCP);
        for (int s = 0; s < services; s++) {
            String name = "svc" + s;
            svc.put(name, new Service(name, Mode.VIP, List.of(http), Validate.address("vip", "10.96." + (s >> 8) + "." + (s & 255)),
                    "wrr", null, null));
            List<Instance> l = new ArrayList<>();
            for (int i = 0; i < instances; i++) {
                int a = s * instances + i;
                l.add(new Instance(name + "-" + i, name, "n1", Validate.address("a", "10." + (100 + (a >> 16)) + "." + ((a >> 8) & 255) + "." + (a & 255)),
                        List.of(backend), 100, Health.HEALTHY, Map.of(), null, null));
            }
            inst.put(name, l);
        }
        ClusterSnapshot s1 = new ClusterSnapshot(1, svc, inst);
        System.gc();
        long heap0 = used();
        try (NftablesDataPlane p = new NftablesDataPlane(c, Exec.inNetns(ns), new SimpleMeterRegistry())) {
            long t0 = System.nanoTime();
            p.sync(s1, true);
            double load = secs(t0);
            System.gc();
            long heap1 = used();
            System.out.printf("load from empty: %.2f s (%d elements, %d refused)%n", load, count(nft), p.rejected().size());
            // one instance change, repeated: replace svc5000's first instance with a new address
            List<Double> changes = new ArrayList<>();
            List<NftablesDataPlane.Timings> phases = new ArrayList<>();
            ClusterSnapshot prev = s1;
            for (int k = 0; k < 10; k++) {
                Map<String, List<Instance>> changed = new HashMap<>(prev.instancesByService());
                String name = "svc" + (services / 2 + k);
                List<Instance> l = new ArrayList<>(changed.get(name));
                Instance old = l.remove(0);
                l.add(new Instance(old.id() + "x" + k, name, "n1", Validate.address("a", "10.250.0." + (k + 1)), List.of(backend), 100,
                        Health.HEALTHY, Map.of(), null, null));
                changed.put(name, l);
                // As the agent builds it: unchanged services shared with the previous snapshot.
                ClusterSnapshot next = ClusterSnapshot.next(prev, 2 + k, svc, changed, java.util.Set.of(name));
                long t1 = System.nanoTime();
                p.sync(next, false);
                changes.add(secs(t1) * 1000);
                phases.add(p.lastTimings());
                if (Boolean.getBoolean("bench.verbose")) {
                    NftablesDataPlane.Timings t = p.lastTimings();
                    System.out.printf("  change %d: %.2f ms (render %.2f, diff %.2f, nft %.2f)%n", k, secs(t1) * 1000, t.render() / 1e6,
                            t.diff() / 1e6, t.nft() / 1e6);
                }
                prev = next;
            }
            changes.sort(Double::compare);
            System.out.printf("one instance change: median %.1f ms, max %.1f ms (10 changes, whole sync: render + diff + nft)%n",
                    changes.get(5), changes.get(9));
            System.out.printf("one instance change, phase medians: render %.2f ms, diff %.2f ms, script %.2f ms (%d chars), nft %.2f ms, rest %.2f ms%n",
                    median(phases, NftablesDataPlane.Timings::render), median(phases, NftablesDataPlane.Timings::diff),
                    median(phases, NftablesDataPlane.Timings::script), phases.get(0).scriptChars(), median(phases, NftablesDataPlane.Timings::nft), median(phases, NftablesDataPlane.Timings::rest));
            long t2 = System.nanoTime();
            p.nft().apply("add element ip portolan vips { 10.250.1.1 . tcp . 1 : goto slots_1 }\n");
            System.out.printf("nft alone, one element (through the plane's nft -i session): %.1f ms%n", secs(t2) * 1000);
            System.out.printf("plane heap (after GC): %.0f MB for %d services x %d instances (snapshot excluded)%n",
                    (heap1 - heap0) / 1e6, services, instances);
        }
        try (NftablesDataPlane p = new NftablesDataPlane(c, Exec.inNetns(ns), new SimpleMeterRegistry())) {
            long t3 = System.nanoTime();
            p.sync(s1, true);
            System.out.printf("restart adoption (read back + full diff + apply): %.2f s%n", secs(t3));
        }
        pureCpu(ns, c, s1);
    }

    /**
     * The plane's own work for a full sync, apart from nft: CPU time of this thread (steadier than the
     * wall clock on a shared host), median of 5 rounds after 3 warm-up rounds: render (a fresh
     * {@link FragmentCache}), full diff against an empty table, script, recording the accepted plan,
     * full diff against the loaded table (a resync or an adoption), and parsing nft's listing.
     */
    private static void pureCpu(String ns, NftConfig c, ClusterSnapshot s1) throws Exception {
        Exec.Result listing = Exec.inNetns(ns).run(List.of("nft", "-j", "list", "table", "ip", "portolan"), null,
                java.time.Duration.ofMinutes(5));
        java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        String[] names = {"render", "full diff", "script", "accept", "full diff against the loaded table", "parse of nft -j's listing"};
        long[][] cpu = new long[names.length][5];
        for (int round = 0; round < 8; round++) {
            long[] t = new long[names.length + 1];
            t[0] = mx.getCurrentThreadCpuTime();
            Ruleset r = new FragmentCache(c).render(s1);
            t[1] = mx.getCurrentThreadCpuTime();
            KernelTable k = new KernelTable();
            Plan plan = NftDiff.full(c, k, r);
            t[2] = mx.getCurrentThreadCpuTime();
            int chars = plan.script().length();
            t[3] = mx.getCurrentThreadCpuTime();
            k.accept(plan.pre());
            plan.groups().forEach(k::accept);
            k.accept(plan.post());
            k.tablePresent = true;
            t[4] = mx.getCurrentThreadCpuTime();
            int groups = NftDiff.full(c, k, r).groups().size();
            t[5] = mx.getCurrentThreadCpuTime();
            KernelTable read = new KernelTable();
            Nft.parse(listing.out(), read);
            t[6] = mx.getCurrentThreadCpuTime();
            if (chars == 0 || groups == 0 || read.elementCount() == 0) {
                throw new IllegalStateException("nothing rendered, diffed or read");
            }
            if (round >= 3) {
                for (int i = 0; i < names.length; i++) {
                    cpu[i][round - 3] = t[i + 1] - t[i];
                }
            }
        }
        StringBuilder b = new StringBuilder("full sync without nft, CPU of one thread (median of 5):");
        for (int i = 0; i < names.length; i++) {
            long[] v = cpu[i].clone();
            java.util.Arrays.sort(v);
            b.append(i == 0 ? " " : ", ").append(names[i]).append(String.format(" %.0f ms", v[2] / 1e6));
        }
        System.out.println(b);
    }

    private static double median(List<NftablesDataPlane.Timings> l, java.util.function.ToLongFunction<NftablesDataPlane.Timings> f) {
        long[] v = l.stream().mapToLong(f).sorted().toArray();
        return v[v.length / 2] / 1e6;
    }

    private static int count(Nft nft) throws Exception {
        return nft.read("portolan").elementCount();
    }

    private static double secs(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static long used() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
