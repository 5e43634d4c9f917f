package io.portolan.lb.nftables;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.portolan.lb.DataPlane;
import io.portolan.lb.DataPlaneKind;
import io.portolan.lb.host.Exec;
import io.portolan.lb.host.VipAddresses;
import io.portolan.lb.sync.CoalescingSync;
import io.portolan.proto.ClusterSnapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The nftables data plane: VIPs and published ports DNATed in the kernel through one table,
 * {@code ip portolan} (layout and kernel contract in lb/README.md, "nftables"). {@link #update}
 * hands the snapshot to a {@link CoalescingSync};
 * each sync renders (re-rendering only services whose definition or serving instances changed),
 * diffs against what the kernel holds and sends one {@code nft -f -} transaction. When the kernel
 * refuses it, the table's fixed part is applied alone and the services are retried in halves down to
 * the one that fails, which keeps its previous rules and is named in the log.
 */
public final class NftablesDataPlane implements DataPlane {
    private static final Logger log = LoggerFactory.getLogger(NftablesDataPlane.class);

    private final NftConfig config;
    private final Nft nft;
    private final VipAddresses vipDevice;
    private final CoalescingSync sync;
    private final FragmentCache renders;
    private final ConntrackCleaner conntrack;
    private final Timer fullTimer;
    private final Timer incrementalTimer;
    private final Counter rejections;
    private final AtomicInteger elements = new AtomicInteger();
    private final AtomicInteger rejected = new AtomicInteger();

    // sync thread only
    private KernelTable state;
    private Ruleset applied;
    private Set<String> failed = Set.of();
    private Set<InetAddress> vips = Set.of();
    private boolean vipsComplete;
    private volatile Map<String, String> rejectedWhy = Map.of();

    /** Where the last sync's time went, in nanoseconds (for the benchmark and the log). */
    record Timings(long render, long read, long diff, long script, long nft, long rest, int scriptChars) {
        long total() {
            return render + read + diff + script + nft + rest;
        }
    }

    private long scriptNanos;
    private long nftNanos;
    private int scriptChars;
    private volatile Timings lastTimings;

    /** The kind the agent chooses with {@code --dataplane nftables}. */
    public static final DataPlaneKind KIND = new DataPlaneKind("nftables", NftConfig.FLAG_TABLE, NftConfig::parse,
            (flags, vips) -> probe(Exec.local(), Exec.onPath("nft")),
            (flags, meters) -> create(NftConfig.parse(flags), Exec.local(), meters), flags -> cleanup(NftConfig.parse(flags), Exec.local()));

    /**
     * Whether this host lets the agent make its table: {@code nft} installed, and one transaction that
     * adds a scratch table and deletes it again (the kernel checks CAP_NET_ADMIN and nf_tables support,
     * and nothing is left behind). Null when it can, else what refused it.
     */
    static String probe(Exec exec, boolean nftInstalled) {
        if (!nftInstalled) {
            return "nft is not on PATH (Debian package nftables)";
        }
        String scratch = "portolan_probe_" + ProcessHandle.current().pid();
        try {
            Exec.Result r = exec.run(List.of("nft", "-f", "-"), "add table ip " + scratch + "\ndelete table ip " + scratch + "\n",
                    java.time.Duration.ofSeconds(10));
            return r.code() == 0 ? null : "nft cannot create a table here (" + r.errOrOut()
                    + "): the agent needs root or CAP_NET_ADMIN, and a kernel with nf_tables";
        } catch (IOException e) {
            return "cannot run nft: " + e.getMessage();
        }
    }

    static NftablesDataPlane create(NftConfig config, Exec exec, MeterRegistry meters) {
        warnIfNotForwarding();
        return new NftablesDataPlane(config, exec, meters);
    }

    /** Removes everything this data plane made on this host (its table, the VIPs it labelled), and nothing else. */
    static void cleanup(NftConfig config, Exec exec) {
        try {
            if (new Nft(exec).deleteTable(config.table())) {
                log.info("nftables: deleted table ip {}", config.table());
            }
            for (VipAddresses.Labelled l : VipAddresses.labelledAnywhere(exec)) {
                Map<InetAddress, String> refused = VipAddresses.remove(exec, l);
                if (refused.isEmpty()) {
                    log.info("nftables: removed VIP {}/32 from {}", l.address().getHostAddress(), l.device());
                } else {
                    log.warn("nftables: cannot remove VIP {}/32 from {}: {}", l.address().getHostAddress(), l.device(), refused.values());
                }
            }
        } catch (IOException | Nft.NftException e) {
            throw new IllegalStateException("nftables cleanup failed: " + e.getMessage(), e);
        }
    }

    private static void warnIfNotForwarding() {
        try {
            String v = Files.readString(Path.of("/proc/sys/net/ipv4/ip_forward")).trim();
            if (!v.equals("1")) {
                log.warn("nftables: net.ipv4.ip_forward is {}: traffic from containers and other hosts to VIPs will not be "
                        + "forwarded (set it to 1; the node's own traffic works without it)", v);
            }
        } catch (IOException e) {
            log.debug("cannot read ip_forward", e);
        }
    }

    NftablesDataPlane(NftConfig config, Exec exec, MeterRegistry meters) {
        this.config = config;
        this.nft = new Nft(exec);
        this.vipDevice = config.vipDevice() == null ? null : VipAddresses.shared(exec, config.vipDevice());
        this.renders = new FragmentCache(config);
        this.conntrack = new ConntrackCleaner(exec, Exec.onPath("conntrack"), meters);
        try {
            NftRender.hostSeed(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/sys/kernel/hostname")).trim().hashCode());
        } catch (java.io.IOException e) {
            log.debug("no host name for the slot cap's spread: {}", e.toString());
        }
        this.fullTimer = Timer.builder("portolan.lb.nftables.sync").tag("kind", "full").register(meters);
        this.incrementalTimer = Timer.builder("portolan.lb.nftables.sync").tag("kind", "incremental").register(meters);
        this.rejections = Counter.builder("portolan.lb.nftables.rejected").description("service changes the kernel refused").register(meters);
        Gauge.builder("portolan.lb.nftables.elements", elements, AtomicInteger::get).register(meters);
        Gauge.builder("portolan.lb.nftables.rejected.services", rejected, AtomicInteger::get).register(meters);
        this.sync = new CoalescingSync("nftables", this::sync, config.minSyncInterval(), config.maxBackoff(), config.fullResync());
    }

    @Override
    public String name() {
        return "nftables";
    }

    @Override
    public boolean coalesces() {
        return true;
    }

    @Override
    public void update(ClusterSnapshot snapshot) {
        if (snapshot == ClusterSnapshot.EMPTY) {
            return; // the agent's placeholder before the registry is read: syncing it would empty the table
        }
        sync.offer(snapshot);
    }

    @Override
    public io.portolan.lb.DataPlaneStatus status() {
        return sync.status(rejectedWhy, List.of(), "the nftables rules carry no counters; the kernel's conntrack table holds the connections");
    }

    CoalescingSync coalescer() {
        return sync;
    }

    /** Services whose last change the kernel refused, with nft's message (sync thread's view). */
    Map<String, String> rejected() {
        return rejectedWhy;
    }

    void sync(ClusterSnapshot snapshot, boolean full) throws IOException, Nft.NftException {
        try {
            syncOnce(snapshot, full);
        } catch (IOException | Nft.NftException | RuntimeException e) {
            renders.reset(); // the next sync is a full one (CoalescingSync): walk every service again
            throw e;
        }
    }

    private void syncOnce(ClusterSnapshot snapshot, boolean full) throws IOException, Nft.NftException {
        long t0 = System.nanoTime();
        full = full || state == null || applied == null;
        Ruleset before = renders.last();
        if (full) {
            renders.reset();
        }
        Ruleset desired = render(snapshot);
        // the changed services are relative to the previous render, which is what the kernel got
        Set<String> changed = before == applied ? renders.changed() : null;
        long t1 = System.nanoTime();
        if (full) {
            state = nft.read(config.table());
        }
        long t2 = System.nanoTime();
        Plan plan = full ? NftDiff.full(config, state, desired)
                : NftDiff.incremental(config, state, applied, desired, changed, failed);
        long t3 = System.nanoTime();
        if (plan.replace()) {
            log.info("nftables: replacing table ip {} whole, in one transaction: {}", config.table(), state.earlierLayout
                    ? "it was written by an earlier layout of this plane (its slot chains DNAT TCP only)"
                    : "its slot chains are not this configuration's (--nft-slots, --nft-mark, --nft-masquerade), and nft writes them"
                    + " only with their maps");
        }
        scriptNanos = 0;
        nftNanos = 0;
        scriptChars = 0;
        Map<String, String> refused = apply(plan);
        long t4 = System.nanoTime();
        Ruleset previous = applied;
        applied = desired;
        failed = refused.keySet();
        rejectedWhy = Map.copyOf(refused);
        rejected.set(refused.size());
        elements.set(state.elementCount());
        // committed: no new connection reaches a removed backend now; forget the entries that still lead there
        conntrack.clear(StaleFlows.removed(previous, desired, full ? null : changed, failed));
        syncVips(previous, desired, full, changed);
        long nanos = System.nanoTime() - t0;
        lastTimings = new Timings(t1 - t0, t2 - t1, t3 - t2, scriptNanos, nftNanos, nanos - (t3 - t0) - scriptNanos - nftNanos,
                scriptChars);
        (full ? fullTimer : incrementalTimer).record(nanos, TimeUnit.NANOSECONDS);
        if (full || !plan.groups().isEmpty()) {
            log.info("nftables: revision {} synced ({}, {} service group(s), {} refused) in {} ms (render {}, read {}, diff {}, nft {})",
                    snapshot.revision(), full ? "full" : "incremental", plan.groups().size(), refused.size(), ms(nanos), ms(t1 - t0),
                    ms(t2 - t1), ms(t3 - t2), ms(t4 - t3));
        }
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    /**
     * Renders: after an incremental sync, only the services the snapshot says changed
     * ({@link ClusterSnapshot#changedSince}, else an identity walk); after a full one or a failure, all of them (reusing
     * the fragments of services whose definition and serving instances are equal to the cached ones).
     */
    Ruleset render(ClusterSnapshot snapshot) {
        Ruleset r = renders.render(snapshot);
        for (Fragment f : renders.fresh()) {
            for (String w : f.warnings()) {
                log.warn("nftables: service {}: {}", f.owner(), w);
            }
        }
        return r;
    }

    /** Applies {@code plan}; returns the services the kernel refused, with why. Throws if the table itself cannot be set up. */
    private Map<String, String> apply(Plan plan) throws IOException, Nft.NftException {
        if (plan.isEmpty()) {
            for (Plan.Group g : plan.groups()) {
                state.accept(g);
            }
            return Map.of();
        }
        try {
            long s0 = System.nanoTime();
            String script = plan.script();
            long s1 = System.nanoTime();
            scriptNanos += s1 - s0;
            scriptChars = script.length();
            try {
                nft.apply(script);
            } finally {
                nftNanos += System.nanoTime() - s1;
            }
            if (plan.replace()) {
                state = new KernelTable(); // the table read back is gone with everything in it
            }
            state.accept(plan.pre());
            plan.groups().forEach(state::accept);
            state.accept(plan.post());
            state.tablePresent = true;
            return Map.of();
        } catch (Nft.NftException whole) {
            log.debug("nftables: transaction refused ({}); retrying service by service", whole.getMessage());
        }
        nft.apply(plan.script(List.of(plan.pre()))); // if the fixed part fails, the sync fails (retry, full resync)
        if (plan.replace()) {
            state = new KernelTable();
        }
        state.accept(plan.pre());
        state.tablePresent = true;
        Map<String, String> refused = new TreeMap<>();
        bisect(plan, plan.groups(), refused);
        if (!refused.isEmpty() && refused.size() < plan.groups().size() && refused.size() <= 8) {
            // a refused add may have waited for another service's delete, applied meanwhile: once more
            for (Plan.Group g : plan.groups()) {
                if (refused.containsKey(g.owner()) && tryGroups(plan, List.of(g))) {
                    refused.remove(g.owner());
                }
            }
        }
        for (var e : refused.entrySet()) {
            rejections.increment();
            log.error("nftables: service {}: the kernel refused its change; its previous rules stay in force: {}", e.getKey(), e.getValue());
        }
        try {
            nft.apply(plan.script(List.of(plan.post())));
            state.accept(plan.post());
        } catch (Nft.NftException e) {
            log.warn("nftables: could not remove unused chains ({}); next full sync retries", e.getMessage());
        }
        return refused;
    }

    private void bisect(Plan plan, List<Plan.Group> groups, Map<String, String> refused) throws IOException {
        if (groups.isEmpty()) {
            return;
        }
        try {
            nft.apply(plan.script(groups));
            groups.forEach(state::accept);
            return;
        } catch (Nft.NftException e) {
            if (groups.size() == 1) {
                refused.put(groups.get(0).owner(), e.getMessage());
                return;
            }
        }
        int half = groups.size() / 2;
        bisect(plan, groups.subList(0, half), refused);
        bisect(plan, groups.subList(half, groups.size()), refused);
    }

    private boolean tryGroups(Plan plan, List<Plan.Group> groups) throws IOException {
        try {
            nft.apply(plan.script(groups));
            groups.forEach(state::accept);
            return true;
        } catch (Nft.NftException e) {
            return false;
        }
    }

    /**
     * Puts the desired VIPs on the VIP device and removes the others. An incremental sync whose changed
     * services kept their VIPs skips the walk, once the device is known to hold exactly the VIPs wanted.
     */
    private void syncVips(Ruleset previous, Ruleset desired, boolean full, Set<String> changed) throws IOException {
        if (vipDevice == null) {
            return;
        }
        if (!full && vipsComplete && changed != null && sameVips(previous, desired, changed)) {
            return;
        }
        if (full) {
            vips = vipDevice.list();
        }
        Map<InetAddress, String> want = new HashMap<>();
        for (Fragment f : desired.services().values()) {
            if (f.vip() != null) {
                want.putIfAbsent(f.vip(), f.owner());
            }
        }
        Set<InetAddress> now = new LinkedHashSet<>(vips);
        List<InetAddress> unwanted = now.stream().filter(a -> !want.containsKey(a)).toList();
        Map<InetAddress, String> notRemoved = vipDevice.remove(unwanted);
        notRemoved.forEach((a, why) -> log.warn("nftables: cannot remove VIP {} from {}: {}", a.getHostAddress(), vipDevice.device(), why));
        unwanted.stream().filter(a -> !notRemoved.containsKey(a)).forEach(now::remove);
        Map<String, InetAddress> byText = new TreeMap<>();
        want.keySet().stream().filter(a -> !now.contains(a)).forEach(a -> byText.put(a.getHostAddress(), a));
        Map<InetAddress, String> notAdded = vipDevice.add(byText.values());
        notAdded.forEach((a, why) -> log.error("nftables: service {}: cannot add VIP {} to {}: {}", want.get(a), a.getHostAddress(),
                vipDevice.device(), why));
        byText.values().stream().filter(a -> !notAdded.containsKey(a)).forEach(now::add);
        vips = Set.copyOf(now);
        vipsComplete = now.equals(want.keySet());
    }

    private static boolean sameVips(Ruleset previous, Ruleset desired, Set<String> changed) {
        for (String name : changed) {
            Fragment a = previous.services().get(name);
            Fragment b = desired.services().get(name);
            if (!java.util.Objects.equals(a == null ? null : a.vip(), b == null ? null : b.vip())) {
                return false;
            }
        }
        return true;
    }

    /** The phases of the last sync (null before the first). */
    Timings lastTimings() {
        return lastTimings;
    }

    /** The plane's nft (for the benchmark: a transaction through the plane's own session). */
    Nft nft() {
        return nft;
    }

    /** For tests: the addresses this plane believes it added. */
    Set<InetAddress> vips() {
        return vips;
    }

    /** The conntrack cleaner (tests wait for it). */
    ConntrackCleaner conntrack() {
        return conntrack;
    }

    @Override
    public void close() {
        sync.close(); // the rules stay: a restarted agent adopts them
        nft.close();
        conntrack.close();
    }
}
