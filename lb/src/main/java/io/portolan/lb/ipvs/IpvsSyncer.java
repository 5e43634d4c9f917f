package io.portolan.lb.ipvs;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.portolan.lb.host.Exec;
import io.portolan.lb.sync.CoalescingSync;
import io.portolan.proto.ClusterSnapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The apply step, run by {@link CoalescingSync} on its own thread. A full sync (the first one, one
 * after a failure, and every {@code --ipvs-full-resync-interval}) has the {@link IpvsHost} set up
 * timeouts, sysctls, device and chains, reads the kernel back ({@code ipvsadm -S -n},
 * {@code iptables-save -t mangle}, the VIPs) and adopts what it finds; every sync then renders the
 * plan, diffs it against the kernel table it keeps, and applies one {@code ipvsadm -R} batch, one
 * {@code iptables-restore --noflush} script for the mark rules that changed, and (through the host)
 * the VIP address changes. ipvsadm runs as
 * one long-lived {@link IpvsadmSession} (where {@code stdbuf} exists): a one-instance change starts
 * no process at all. When it dies or hangs, the sync fails and the next one is a full one.
 */
final class IpvsSyncer implements CoalescingSync.Target, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IpvsSyncer.class);
    private static final Duration TIMEOUT = IpvsHost.TIMEOUT;
    /** Connection counts are read for at most this many draining services per sync (one ipvsadm -L each). */
    static final int MAX_COUNT_READS = 32;
    /** A batch of more ops than this is acknowledged per {@link #CHUNK_OPS} lines rather than per service. */
    static final int PER_SERVICE_ACK_MAX_OPS = 2_000;
    static final int CHUNK_OPS = 200;

    private final IpvsConfig config;
    private final IpvsHost host;
    private final Exec exec;
    private Ipvsadm ipvsadm;
    /** Set when ipvsadm died or hung mid-call: the table may differ from {@link #kernel}, so the next sync is a full one. */
    private boolean needFull;
    private final Timer syncTimer;
    private final Counter rejectedCounter;
    private final AtomicInteger serviceGauge = new AtomicInteger();
    private final AtomicInteger drainingGauge = new AtomicInteger();

    private KernelTable kernel = new KernelTable();
    private Map<MarkedPort, Integer> rules = new HashMap<>();
    private Map<Integer, MarkedPort> ruleFrontends = new HashMap<>();
    private Set<Integer> reserved = Set.of();
    /** Rules in our chain at the last read-back, parsed or not (a foreign rule in it makes a full sync rewrite it). */
    private int chainLines;
    private IpvsRender.Cache renderCache = new IpvsRender.Cache();
    private Plan previous;
    private final IpvsDiff.Drains drains = new IpvsDiff.Drains();
    private final Map<Integer, Plan.VirtualService> rejected = new HashMap<>();
    private List<String> lastProblems = List.of();
    private volatile Plan lastPlan;
    /** {@link #rejected} as the status page reads it, from any thread: service → what was refused. */
    private volatile Map<String, String> rejectedView = Map.of();

    IpvsSyncer(IpvsConfig config, Exec exec, MeterRegistry meters) {
        this(config, exec, meters, Path.of("/proc/sys"));
    }

    /** {@code sysctlRoot}: where the sysctl files are ({@code /proc/sys}; a directory of files in tests). */
    IpvsSyncer(IpvsConfig config, Exec exec, MeterRegistry meters, Path sysctlRoot) {
        this(config, exec, meters, sysctlRoot, Exec.onPath("stdbuf") ? new IpvsadmSession(exec, TIMEOUT) : new IpvsadmOneShot(exec));
    }

    IpvsSyncer(IpvsConfig config, Exec exec, MeterRegistry meters, Path sysctlRoot, Ipvsadm ipvsadm) {
        this.host = new IpvsHost(config, exec, sysctlRoot);
        this.config = config;
        this.exec = exec;
        this.ipvsadm = ipvsadm;
        if (ipvsadm instanceof IpvsadmOneShot) {
            log.info("ipvs: stdbuf not found (coreutils): ipvsadm runs once per change instead of as one long-lived process");
        }
        this.syncTimer = Timer.builder("portolan.ipvs.sync").description("ipvs data plane syncs").register(meters);
        this.rejectedCounter = Counter.builder("portolan.ipvs.rejected").description("virtual services the kernel refused").register(meters);
        meters.gauge("portolan.ipvs.services", serviceGauge);
        meters.gauge("portolan.ipvs.draining", drainingGauge);
    }

    /** Whether real servers were draining after the last sync (read from the drain ticker's thread). */
    boolean draining() {
        return drainingGauge.get() > 0;
    }

    Plan lastPlan() {
        return lastPlan;
    }

    /** Where the time of the last sync went, in nanoseconds (for the benchmark). */
    record Phases(long render, long counts, long diff, long ipvs, long rulesAndVips) {
    }

    private volatile Phases lastPhases;

    Phases lastPhases() {
        return lastPhases;
    }

    Ipvsadm ipvsadm() {
        return ipvsadm;
    }

    /** Swaps how ipvsadm runs (the benchmark compares both on one table); the old one is closed. */
    void ipvsadm(Ipvsadm next) {
        ipvsadm.close();
        ipvsadm = next;
    }

    @Override
    public void close() {
        ipvsadm.close();
    }

    @Override
    public void sync(ClusterSnapshot snapshot, boolean full) throws Exception {
        long t0 = System.nanoTime();
        if (needFull && !full) {
            log.info("ipvs: ipvsadm failed during the last sync; this one is a full resync");
            full = true;
        }
        try {
            sync(snapshot, full, t0);
        } catch (IOException e) {
            needFull = true;
            throw e;
        } finally {
            publishRejected();
        }
        needFull = false;
    }

    /** Services whose last change the kernel refused (as of the last sync), with what was refused. */
    Map<String, String> rejectedServices() {
        return rejectedView;
    }

    private void publishRejected() {
        Map<String, String> view = new java.util.TreeMap<>();
        Plan plan = lastPlan;
        // an entry stays in `rejected` after its service changed (it only stops an identical retry): show it only while it is planned
        rejected.forEach((mark, v) -> {
            if (plan != null && v.equals(plan.services().get(mark))) {
                view.put(v.service(), "the kernel refused " + v.frontend() + " (scheduler " + v.scheduler() + ")");
            }
        });
        rejectedView = Map.copyOf(view);
    }

    private void sync(ClusterSnapshot snapshot, boolean full, long t0) throws IOException {
        if (full) {
            host.setUp();
            readKernel();
            rejected.clear();
            renderCache = new IpvsRender.Cache();
            previous = null;
        }
        Plan plan = IpvsRender.render(snapshot, config.markBase(), config.markBits(), rules, reserved, renderCache);
        if (!plan.problems().equals(lastProblems)) {
            plan.problems().forEach(p -> log.warn("ipvs: {}", p));
            lastProblems = plan.problems();
        }
        long t1 = System.nanoTime();
        Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> counts = readCounts(
                previous == null ? IpvsDiff.drainingMarks(kernel, plan) : new java.util.TreeSet<>(drains.since.keySet()));
        long t2 = System.nanoTime();
        long now = System.currentTimeMillis();
        IpvsDiff.Changes changes = IpvsDiff.compute(kernel, plan, previous, renderCache.changedSince(previous), ruleFrontends, rejected,
                drains, counts, now,
                config.drainTimeout().toMillis());
        long t3 = System.nanoTime();
        boolean clean = applyIpvs(changes, plan);
        long t4 = System.nanoTime();
        boolean exact = full || !clean || previous == null;
        if (syncRules(plan, changes, exact, full) || full) {
            Set<InetAddress> want = new HashSet<>();
            rules.keySet().forEach(f -> {
                if (f.vip() != null) {
                    want.add(f.vip());
                }
            });
            host.syncVips(want); // VIP addresses follow the mark rules
        }
        changes.clears().forEach(host::clearConntrack);
        lastPhases = new Phases(t1 - t0, t2 - t1, t3 - t2, t4 - t3, System.nanoTime() - t4);
        previous = clean ? plan : null;
        lastPlan = plan;
        serviceGauge.set(kernel.services.size());
        drainingGauge.set(drains.size());
        syncTimer.record(System.nanoTime() - t0, java.util.concurrent.TimeUnit.NANOSECONDS);
        if (full || !changes.isEmpty()) {
            log.debug("ipvs: {} sync of revision {}: {} ipvsadm lines, {} services, {} draining, {} ms", full ? "full" : "incremental",
                    snapshot.revision(), changes.ops().size(), kernel.services.size(), drains.size(), (System.nanoTime() - t0) / 1_000_000);
        }
    }

    /** Active and inactive connections of the real servers of up to {@link #MAX_COUNT_READS} of {@code marks}, in one call. */
    private Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> readCounts(Set<Integer> marks) throws IOException {
        Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> counts = new HashMap<>();
        if (marks.isEmpty()) {
            return counts;
        }
        List<Integer> read = marks.stream().limit(MAX_COUNT_READS).toList();
        // each mark is one our table holds: listing a missing service would end the ipvsadm process
        List<List<String>> groups = read.stream().map(m -> List.of("-L -n -f " + Integer.toUnsignedString(m))).toList();
        List<List<String>> out = ipvsadm.run(groups);
        for (int i = 0; i < read.size(); i++) {
            counts.put(read.get(i), KernelTable.parseList(String.join("\n", out.get(i))));
        }
        return counts;
    }

    /**
     * The batch as groups of lines, each acknowledged on its own: one per service (so an error names
     * its service), or chunks of about {@link #CHUNK_OPS} lines for a batch of more than
     * {@link #PER_SERVICE_ACK_MAX_OPS} (a load from empty: one acknowledgement per service would add
     * a line per service); a service's lines are never split.
     */
    static List<List<IpvsDiff.Op>> groups(List<IpvsDiff.Op> ops) {
        int min = ops.size() > PER_SERVICE_ACK_MAX_OPS ? CHUNK_OPS : 1;
        List<List<IpvsDiff.Op>> out = new ArrayList<>();
        List<IpvsDiff.Op> cur = new ArrayList<>();
        for (IpvsDiff.Op o : ops) {
            if (!cur.isEmpty() && cur.get(cur.size() - 1).mark() != o.mark() && cur.size() >= min) {
                out.add(cur);
                cur = new ArrayList<>();
            }
            cur.add(o);
        }
        if (!cur.isEmpty()) {
            out.add(cur);
        }
        return out;
    }

    /** Applies the batch; false when the kernel refused some of it (the table was then read back). */
    private boolean applyIpvs(IpvsDiff.Changes changes, Plan plan) throws IOException {
        if (changes.isEmpty()) {
            return true;
        }
        List<List<IpvsDiff.Op>> groups = groups(changes.ops());
        List<List<String>> out = ipvsadm.run(groups.stream().map(g -> g.stream().map(IpvsDiff.Op::line).toList()).toList());
        Map<Integer, String> why = new HashMap<>();
        for (int i = 0; i < groups.size(); i++) {
            if (!out.get(i).isEmpty()) {
                String errors = String.join("; ", out.get(i));
                groups.get(i).forEach(o -> why.merge(o.mark(), errors, (a, b) -> a));
            }
        }
        if (why.isEmpty()) {
            changes.ops().forEach(o -> o.applyTo(kernel));
            return true;
        }
        // ipvsadm -R goes on after a failed line and names no line: read the kernel back and find
        // the services that did not reach their planned state. Those keep what the kernel has.
        kernel = readIpvs();
        reserved = orphans();
        Set<Integer> touched = new LinkedHashSet<>();
        changes.ops().forEach(o -> touched.add(o.mark()));
        for (int mark : touched) {
            Plan.VirtualService want = plan.services().get(mark);
            if (want == null || matches(kernel.services.get(mark), want)) {
                continue;
            }
            rejected.put(mark, want);
            rejectedCounter.increment();
            log.error("ipvs: the kernel refused service {} ({}, fwmark 0x{}, scheduler {}): {}; its previous rules stay in force, "
                    + "other services are synced; fix the service (e.g. its scheduler) and it is retried", want.service(), want.frontend(),
                    Integer.toHexString(mark), want.scheduler(), why.getOrDefault(mark, "(its group printed nothing; "
                            + String.join("; ", new LinkedHashSet<>(why.values())) + ")"));
        }
        return false;
    }

    /** Kernel virtual services in our range that no mark rule explains: their marks are not handed out. */
    private Set<Integer> orphans() {
        Set<Integer> o = new HashSet<>(kernel.services.keySet());
        o.removeAll(rules.values());
        return o;
    }

    private static boolean matches(KernelTable.Service have, Plan.VirtualService want) {
        if (have == null || !have.scheduler.equals(want.scheduler()) || !have.reals.keySet().containsAll(want.reals().keySet())) {
            return false;
        }
        for (Map.Entry<Plan.RealServer, Integer> e : want.reals().entrySet()) {
            if (have.reals.get(e.getKey()).weight() != e.getValue()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Mark rules follow the kernel's IPVS services: a rule exists exactly while its service does.
     * {@code exact} recomputes them from the whole table; otherwise they follow the batch's service
     * additions and deletions. Returns whether any rule changed.
     */
    private boolean syncRules(Plan plan, IpvsDiff.Changes changes, boolean exact, boolean full) throws IOException {
        Map<MarkedPort, Integer> remove = new HashMap<>();
        Map<MarkedPort, Integer> add = new HashMap<>();
        Map<MarkedPort, Integer> want;
        if (exact) {
            want = new HashMap<>();
            for (int mark : kernel.services.keySet()) {
                Plan.VirtualService v = plan.services().get(mark);
                MarkedPort f = v != null ? v.frontend() : ruleFrontends.get(mark);
                if (f != null) {
                    want.put(f, mark);
                }
            }
            rules.forEach((f, m) -> {
                if (!m.equals(want.get(f))) {
                    remove.put(f, m);
                }
            });
            want.forEach((f, m) -> {
                if (!m.equals(rules.get(f))) {
                    add.put(f, m);
                }
            });
        } else {
            want = rules;
            for (IpvsDiff.Op o : changes.ops()) {
                if (o.kind() == IpvsDiff.Kind.ADD_SERVICE) {
                    MarkedPort f = plan.services().get(o.mark()).frontend();
                    if (!Integer.valueOf(o.mark()).equals(rules.get(f))) {
                        add.put(f, o.mark());
                    }
                } else if (o.kind() == IpvsDiff.Kind.DELETE_SERVICE) {
                    MarkedPort f = ruleFrontends.get(o.mark());
                    if (f != null) {
                        remove.put(f, o.mark());
                    }
                }
            }
        }
        if (remove.isEmpty() && add.isEmpty() && (!full || chainLines == rules.size())) {
            return false; // a full sync rewrites the chain only if it differs from what it should hold
        }
        Map<MarkedPort, Integer> next = new HashMap<>(exact ? want : rules);
        if (!exact) {
            remove.keySet().forEach(next::remove);
            next.putAll(add);
        }
        String script = MarkRules.script(full, next, remove, add);
        Exec.Result r = exec.run(List.of("iptables-restore", "--noflush", "-w", "5"), script, TIMEOUT);
        if (r.code() != 0) {
            throw new IOException("iptables-restore of the " + MarkRules.CHAIN + " chain failed (exit " + r.code() + "): " + r.errOrOut());
        }
        rules = next;
        ruleFrontends = new HashMap<>();
        rules.forEach((f, m) -> ruleFrontends.put(m, f));
        return !remove.isEmpty() || !add.isEmpty();
    }

    private KernelTable readIpvs() throws IOException {
        List<String> save = ipvsadm.run(List.of(List.of("-S -n"))).get(0);
        return KernelTable.parseSave(String.join("\n", save), config::ownsMark);
    }

    private void readKernel() throws IOException {
        kernel = readIpvs();
        Exec.Result m = exec.run(List.of("iptables-save", "-t", "mangle"), null, TIMEOUT);
        if (m.code() != 0) {
            throw new IOException("iptables-save -t mangle failed: " + m.errOrOut());
        }
        rules = new HashMap<>();
        chainLines = (int) m.out().lines().filter(l -> l.startsWith("-A " + MarkRules.CHAIN + " ")).count();
        MarkRules.parse(m.out()).forEach((f, mark) -> {
            if (config.ownsMark(Integer.toUnsignedLong(mark))) {
                rules.put(f, mark);
            }
        });
        ruleFrontends = new HashMap<>();
        rules.forEach((f, mark) -> ruleFrontends.put(mark, f));
        reserved = orphans();
        int vips = host.readVips().size();
        log.info("ipvs: adopted {} virtual services, {} mark rules, {} VIPs on {}", kernel.services.size(), rules.size(), vips, host.device());
    }


}
