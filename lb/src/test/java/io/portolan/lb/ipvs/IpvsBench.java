package io.portolan.lb.ipvs;

import io.portolan.lb.host.Exec;

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
 *       a full sync from empty (ipvsadm -R session, iptables-restore, ip -batch), then one instance
 *       change (an incremental sync) 22 times through the persistent session and 22 times with one
 *       ipvsadm process per call (the way before the session), each with where its time went, the
 *       bare cost of a process start, and a full resync that re-reads the kernel.</li>
 *   <li>Both modes end with the same CPU-bound loop and a {@code /bin/true} start: host against VM
 *       is the TCG slowdown.</li>
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
        System.out.printf("ipvs bench (%s): %,d services x %d instances = %,d real servers%n", mode, services, instances, services * instances);
        if (mode.equals("kernel")) {
            kernel(base, new Alternator(base, svc, inst, changedInst));
        } else {
            pure(base, svc, inst, changedInst);
            cpu();
        }
    }

    static void pure(ClusterSnapshot base, Map<String, Service> svc, Map<String, List<Instance>> inst,
                     Map<String, List<Instance>> changedInst) {
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
        Map<MarkedPort, Integer> marks = plan.marks();
        String rules = MarkRules.script(true, marks, Map.of(), Map.of());
        System.out.printf("from empty: render %.1f ms, diff + batch text %.1f ms: %,d ipvsadm lines (%,d bytes), %,d mark rules (%,d bytes)%n",
                render / 1e6, diff / 1e6, all.ops().size(), batch.length(), marks.size(), rules.length());
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long[] times = new long[21];
        long[] cpu = new long[21];
        long[] renderOnly = new long[21];
        IpvsDiff.Changes ch = null;
        Plan previous = plan;
        ClusterSnapshot last = base;
        for (int i = 0; i < times.length; i++) {
            // alternate: the instance added (odd) and gone again (even), each against the last plan, as the syncer
            // runs; each snapshot built from the last by ClusterSnapshot.next, as the registry builds them
            ClusterSnapshot next = ClusterSnapshot.next(last, 2 + i, svc, i % 2 == 0 ? changedInst : inst, java.util.Set.of("svc0"));
            last = next;
            long ca = mx.getCurrentThreadCpuTime();
            long a = System.nanoTime();
            Plan p2 = IpvsRender.render(next, c.markBase(), c.markBits(), marks, java.util.Set.of(), cache);
            long b = System.nanoTime();
            IpvsDiff.Changes d = IpvsDiff.compute(table, p2, previous, cache.changedSince(previous), Map.of(), Map.of(), new IpvsDiff.Drains(),
                    Map.of(), 0, 0);
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

    /** Snapshots with the instance added and removed in turn, each built from the last by ClusterSnapshot.next, as the registry does. */
    static final class Alternator {
        private final Map<String, Service> svc;
        private final Map<String, List<Instance>> inst;
        private final Map<String, List<Instance>> changedInst;
        private ClusterSnapshot last;

        Alternator(ClusterSnapshot base, Map<String, Service> svc, Map<String, List<Instance>> inst, Map<String, List<Instance>> changedInst) {
            this.last = base;
            this.svc = svc;
            this.inst = inst;
            this.changedInst = changedInst;
        }

        ClusterSnapshot next(boolean added) {
            last = ClusterSnapshot.next(last, last.revision() + 1, svc, added ? changedInst : inst, java.util.Set.of("svc0"));
            return last;
        }
    }

    static void kernel(ClusterSnapshot base, Alternator changed) throws Exception {
        IpvsConfig c = IpvsConfig.parse(Map.of("ipvs-min-sync-interval", "0ms"));
        Exec shell = Exec.local();
        IpvsSyncer syncer = new IpvsSyncer(c, shell, new SimpleMeterRegistry(), java.nio.file.Path.of("/proc/sys"),
                new IpvsadmSession(shell, java.time.Duration.ofMinutes(5)));
        syncer.sync(ClusterSnapshot.EMPTY, true); // loads the modules, sets up chains and device
        long[] before = meminfo();
        long t0 = System.nanoTime();
        syncer.sync(base, true);
        System.out.printf("full sync from empty (read back, ipvsadm -R session, iptables-restore, ip -batch): %.1f s (ipvsadm part %.1f s)%n",
                (System.nanoTime() - t0) / 1e9, syncer.lastPhases().ipvs() / 1e9);
        long[] after = meminfo();
        System.out.printf("kernel memory for it: slab +%.0f MiB, MemAvailable -%.0f MiB%n", (after[0] - before[0]) / 1024.0,
                (before[1] - after[1]) / 1024.0);
        // session first while the JIT is cold (C2 under TCG takes a while), then the old way and the session again, both warm
        changes("persistent ipvsadm -R session, JIT cold", syncer, base, changed);
        syncer.ipvsadm(new IpvsadmOneShot(shell));
        changes("one ipvsadm process per call (before)", syncer, base, changed);
        syncer.ipvsadm(new IpvsadmSession(shell, java.time.Duration.ofMinutes(5)));
        changes("persistent ipvsadm -R session, JIT warm", syncer, base, changed);
        // bare costs: a trivial process, ipvsadm with one line, one line through the session
        Plan.VirtualService any = syncer.lastPlan().services().values().iterator().next();
        Map.Entry<Plan.RealServer, Integer> r = any.reals().entrySet().iterator().next();
        String noop = "-e -f " + Integer.toUnsignedString(any.mark()) + " -r " + r.getKey() + " -m -w " + r.getValue();
        System.out.printf("bare costs (median of 11): /bin/true from Java %.1f ms; ipvsadm -R of one line %.1f ms; "
                        + "one line + acknowledgement through the session %.1f ms%n",
                median(11, () -> shell.run(List.of("/bin/true"), null, java.time.Duration.ofMinutes(1))),
                median(11, () -> shell.run(List.of("ipvsadm", "-R"), noop + "\n", java.time.Duration.ofMinutes(1))),
                median(11, () -> syncer.ipvsadm().run(List.of(List.of(noop)))));
        cpu();
        t0 = System.nanoTime();
        syncer.sync(base, true);
        System.out.printf("full resync with everything present (re-reads ipvsadm -S -n via the session, iptables-save, ip addr): %.1f s%n",
                (System.nanoTime() - t0) / 1e9);
        Runtime rt = Runtime.getRuntime();
        System.gc();
        System.out.printf("agent-side heap after GC: %.0f MiB%n", (rt.totalMemory() - rt.freeMemory()) / 1048576.0);
        syncer.close();
        IpvsDataPlane.cleanup(IpvsConfig.DEFAULT, Exec.local());
    }

    /**
     * One instance added and removed again, 22 times each, with the phases. The first ones run while
     * the JIT is still cold (slow under TCG): medians are of the second half.
     */
    static void changes(String how, IpvsSyncer syncer, ClusterSnapshot base, Alternator changed) throws Exception {
        int starts = syncer.ipvsadm().starts();
        long[] change = new long[44];
        long[][] phase = new long[5][change.length];
        for (int i = 0; i < change.length; i++) {
            ClusterSnapshot next = changed.next(i % 2 == 0);
            long t0 = System.nanoTime();
            syncer.sync(next, false);
            change[i] = System.nanoTime() - t0;
            IpvsSyncer.Phases p = syncer.lastPhases();
            long[] v = {p.render(), p.counts(), p.diff(), p.ipvs(), p.rulesAndVips()};
            for (int k = 0; k < v.length; k++) {
                phase[k][i] = v[k];
            }
        }
        System.out.printf("one instance added / removed (weight 0 first), incremental sync, %s, ms in order: %s%n", how,
                Arrays.stream(change).mapToObj(n -> String.valueOf(n / 1_000_000)).toList());
        int h = change.length / 2;
        long[] sorted = Arrays.copyOfRange(change, h, change.length);
        Arrays.sort(sorted);
        long[] all = change.clone();
        Arrays.sort(all);
        System.out.printf("  all %d: median %.1f ms; last %d: median %.1f ms, best %.1f ms; ipvsadm processes started (all %d): %d; median per phase (ms): render %.1f, "
                        + "connection counts of the draining service %.1f, diff %.1f, ipvsadm batch %.1f, rules + VIPs %.1f%n",
                change.length, all[all.length / 2] / 1e6, h, sorted[sorted.length / 2] / 1e6, sorted[0] / 1e6, change.length, syncer.ipvsadm().starts() - starts,
                med(Arrays.copyOfRange(phase[0], h, change.length)), med(Arrays.copyOfRange(phase[1], h, change.length)),
                med(Arrays.copyOfRange(phase[2], h, change.length)), med(Arrays.copyOfRange(phase[3], h, change.length)),
                med(Arrays.copyOfRange(phase[4], h, change.length)));
    }

    private static double med(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2] / 1e6;
    }

    interface Step {
        void run() throws Exception;
    }

    static double median(int n, Step step) throws Exception {
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            step.run();
            t[i] = System.nanoTime() - t0;
        }
        return med(t);
    }

    /** The same CPU-bound Java code on the host and in the VM (their ratio is the TCG slowdown for JIT-compiled code). */
    static void cpu() throws Exception {
        long[] sink = {0};
        Step loop = () -> {
            long x = 88172645463325252L;
            for (int i = 0; i < 20_000_000; i++) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
            }
            sink[0] += x;
        };
        for (int i = 0; i < 3; i++) {
            loop.run();
        }
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long c0 = mx.getCurrentThreadCpuTime();
        double wall = median(5, loop);
        System.out.printf("CPU-bound Java loop, registers only (20M xorshift steps): median %.1f ms wall, %.1f ms CPU per run%n", wall,
                (mx.getCurrentThreadCpuTime() - c0) / 5e6);
        int[] data = new java.util.Random(1).ints(2_000_000).toArray();
        Step sort = () -> {
            int[] a = data.clone();
            Arrays.sort(a);
            sink[0] += a[a.length / 2];
        };
        for (int i = 0; i < 2; i++) {
            sort.run();
        }
        c0 = mx.getCurrentThreadCpuTime();
        wall = median(5, sort);
        System.out.printf("CPU-bound Java loop, memory-heavy (sort 2M ints): median %.1f ms wall, %.1f ms CPU per run%n", wall,
                (mx.getCurrentThreadCpuTime() - c0) / 5e6);
        Exec shell = Exec.local();
        System.out.printf("/bin/true started from Java (median of 21): %.2f ms%n",
                median(21, () -> shell.run(List.of("/bin/true"), null, java.time.Duration.ofMinutes(1))));
        if (sink[0] == 42) {
            System.out.println();
        }
    }
}
