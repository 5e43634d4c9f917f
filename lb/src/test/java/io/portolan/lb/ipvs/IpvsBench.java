package io.portolan.lb.ipvs;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * bench/ipvs/run.sh: S services x N instances.
 * <ul>
 *   <li>{@code pure S N}: render and diff on this host, no kernel: from empty, then one instance
 *       change with S present (median of 21), and the heap the snapshot, plan and table hold.</li>
 *   <li>{@code kernel S N}: the real apply step against the kernel (run it in the VM: needs IPVS):
 *       a full sync from empty (ipvsadm -R, iptables-restore, ip -batch), then one instance change
 *       (an incremental sync), then a full resync that re-reads the kernel.</li>
 * </ul>
 */
public final class IpvsBench {
    private IpvsBench() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args.length > 0 ? args[0] : "pure";
        int services = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
        int instances = args.length > 2 ? Integer.parseInt(args[2]) : 10;
        Map<String, Service> svc = new TreeMap<>();
        Map<String, List<Instance>> inst = new TreeMap<>();
        for (int s = 0; s < services; s++) {
            String name = "svc" + s;
            InetAddress vip = InetAddress.getByAddress(new byte[] {10, (byte) (96 + s / 65536), (byte) (s / 256), (byte) s});
            svc.put(name, new Service(name, Mode.VIP, List.of(new Port("http", 80, Protocol.TCP)), vip, "rr", List.of(), null));
            List<Instance> list = new ArrayList<>();
            for (int i = 0; i < instances; i++) {
                int n = s * instances + i;
                InetAddress a = InetAddress.getByAddress(new byte[] {10, (byte) (n >> 16), (byte) (n >> 8), (byte) n});
                list.add(new Instance(name + "-" + i, name, "node1", a, List.of(new Port("http", 8080, Protocol.TCP)), 100,
                        Health.HEALTHY, Map.of(), null, null));
            }
            inst.put(name, list);
        }
        ClusterSnapshot base = new ClusterSnapshot(1, svc, inst);
        Map<String, List<Instance>> changedInst = new HashMap<>(inst);
        List<Instance> one = new ArrayList<>(inst.get("svc0"));
        one.add(new Instance("svc0-new", "svc0", "node1", InetAddress.getByAddress(new byte[] {10, (byte) 250, 0, 1}),
                List.of(new Port("http", 8080, Protocol.TCP)), 100, Health.HEALTHY, Map.of(), null, null));
        changedInst.put("svc0", one);
        ClusterSnapshot changed = new ClusterSnapshot(2, svc, changedInst);
        System.out.printf("ipvs bench (%s): %,d services x %d instances = %,d real servers%n", mode, services, instances, services * instances);
        if (mode.equals("kernel")) {
            kernel(base, changed);
        } else {
            pure(base, changed);
        }
    }

    static void pure(ClusterSnapshot base, ClusterSnapshot changed) {
        IpvsConfig c = IpvsConfig.DEFAULT;
        for (int warm = 0; warm < 3; warm++) {
            IpvsRender.render(base, c.markBase(), c.markBits(), Map.of(), java.util.Set.of());
        }
        IpvsRender.Cache cache = new IpvsRender.Cache();
        long t0 = System.nanoTime();
        Plan plan = IpvsRender.render(base, c.markBase(), c.markBits(), Map.of(), java.util.Set.of(), cache);
        long render = System.nanoTime() - t0;
        KernelTable table = new KernelTable();
        t0 = System.nanoTime();
        IpvsDiff.Changes all = IpvsDiff.compute(table, plan, Map.of(), Map.of(), new IpvsDiff.Drains(), Map.of(), 0, 30_000);
        String batch = all.batch();
        long diff = System.nanoTime() - t0;
        all.ops().forEach(o -> o.applyTo(table));
        Map<Frontend, Integer> marks = plan.marks();
        String rules = MarkRules.script(true, marks, Map.of(), Map.of());
        System.out.printf("from empty: render %.1f ms, diff + batch text %.1f ms: %,d ipvsadm lines (%,d bytes), %,d mark rules (%,d bytes)%n",
                render / 1e6, diff / 1e6, all.ops().size(), batch.length(), marks.size(), rules.length());
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long[] times = new long[21];
        long[] cpu = new long[21];
        long[] renderOnly = new long[21];
        IpvsDiff.Changes ch = null;
        Plan previous = plan;
        for (int i = 0; i < times.length; i++) {
            // alternate: the instance added (odd) and gone again (even), each against the last plan, as the syncer runs
            ClusterSnapshot next = i % 2 == 0 ? changed : base;
            long ca = mx.getCurrentThreadCpuTime();
            long a = System.nanoTime();
            Plan p2 = IpvsRender.render(next, c.markBase(), c.markBits(), marks, java.util.Set.of(), cache);
            long b = System.nanoTime();
            IpvsDiff.Changes d = IpvsDiff.compute(table, p2, previous, Map.of(), Map.of(), new IpvsDiff.Drains(), Map.of(), 0, 0);
            times[i] = System.nanoTime() - a;
            cpu[i] = mx.getCurrentThreadCpuTime() - ca;
            renderOnly[i] = b - a;
            d.ops().forEach(o -> o.applyTo(table));
            previous = p2;
            if (i == 0) {
                ch = d;
            }
            times[i] = System.nanoTime() - a;
            cpu[i] = mx.getCurrentThreadCpuTime() - ca;
            renderOnly[i] = b - a;
        }
        Arrays.sort(times);
        Arrays.sort(cpu);
        Arrays.sort(renderOnly);
        System.out.printf("one instance added with all present: render + diff %.1f ms median wall, %.1f ms CPU (render %.1f ms wall), batch: %s",
                times[10] / 1e6, cpu[10] / 1e6, renderOnly[10] / 1e6, ch.batch());
        Runtime rt = Runtime.getRuntime();
        System.gc();
        System.gc();
        long used = rt.totalMemory() - rt.freeMemory();
        System.out.printf("heap after GC holding snapshot + plan + kernel table: %.0f MiB%n", used / 1048576.0);
        if (plan.services().size() < 0 || table.services.isEmpty()) {
            System.out.println();
        }
    }

    /** Slab and MemAvailable in KiB. */
    static long[] meminfo() throws java.io.IOException {
        long slab = 0;
        long avail = 0;
        for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/meminfo"))) {
            String[] t = l.split("\\s+");
            if (t[0].equals("Slab:")) {
                slab = Long.parseLong(t[1]);
            } else if (t[0].equals("MemAvailable:")) {
                avail = Long.parseLong(t[1]);
            }
        }
        return new long[] {slab, avail};
    }

    static void kernel(ClusterSnapshot base, ClusterSnapshot changed) throws Exception {
        IpvsConfig c = IpvsConfig.parse(Map.of("ipvs-min-sync-interval", "0ms"));
        IpvsSyncer syncer = new IpvsSyncer(c, new Shell(), new SimpleMeterRegistry());
        syncer.sync(ClusterSnapshot.EMPTY, true); // loads the modules, sets up chains and device
        long[] before = meminfo();
        long t0 = System.nanoTime();
        syncer.sync(base, true);
        System.out.printf("full sync from empty (read back, ipvsadm -R, iptables-restore, ip -batch): %.1f s%n", (System.nanoTime() - t0) / 1e9);
        long[] after = meminfo();
        System.out.printf("kernel memory for it: slab +%.0f MiB, MemAvailable -%.0f MiB%n", (after[0] - before[0]) / 1024.0,
                (before[1] - after[1]) / 1024.0);
        // one instance added and removed again, 11 times (the first ones run while the JIT is still cold)
        long[] change = new long[22];
        for (int i = 0; i < change.length; i++) {
            t0 = System.nanoTime();
            syncer.sync(i % 2 == 0 ? changed : base, false);
            change[i] = System.nanoTime() - t0;
        }
        System.out.printf("one instance added / removed (weight 0 first), incremental sync, ms in order: %s%n",
                Arrays.stream(change).mapToObj(n -> String.valueOf(n / 1_000_000)).toList());
        long[] sorted = change.clone();
        Arrays.sort(sorted);
        System.out.printf("  median %d ms, best %d ms%n", sorted[sorted.length / 2] / 1_000_000, sorted[0] / 1_000_000);
        // the cost of starting ipvsadm itself: a one-line batch that changes nothing
        Plan.VirtualService any = syncer.lastPlan().services().values().iterator().next();
        Map.Entry<Plan.RealServer, Integer> r = any.reals().entrySet().iterator().next();
        String noop = "-e -f " + Integer.toUnsignedString(any.mark()) + " -r " + r.getKey() + " -m -w " + r.getValue() + "\n";
        long[] proc = new long[5];
        for (int i = 0; i < proc.length; i++) {
            t0 = System.nanoTime();
            new Shell().run(List.of("ipvsadm", "-R"), noop, java.time.Duration.ofMinutes(1));
            proc[i] = System.nanoTime() - t0;
        }
        Arrays.sort(proc);
        System.out.printf("  of which starting ipvsadm -R for one line: median %d ms%n", proc[2] / 1_000_000);
        t0 = System.nanoTime();
        syncer.sync(base, true);
        System.out.printf("full resync with everything present (re-reads ipvsadm -S -n, iptables-save, ip addr): %.1f s%n", (System.nanoTime() - t0) / 1e9);
        Runtime rt = Runtime.getRuntime();
        System.gc();
        System.out.printf("agent-side heap after GC: %.0f MiB%n", (rt.totalMemory() - rt.freeMemory()) / 1048576.0);
        IpvsDataPlane.cleanup(Map.of());
    }
}
