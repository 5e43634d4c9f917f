package io.portolan.lb.ipvs;

import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.lb.DataPlane;
import io.portolan.lb.DataPlaneKind;
import io.portolan.lb.host.Exec;
import io.portolan.lb.sync.CoalescingSync;
import io.portolan.proto.ClusterSnapshot;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The ipvs data plane: a firewall mark per VIP service port (and per published port), a mangle
 * rule that marks the traffic, an IPVS virtual service by that mark with masquerading real
 * servers, SNAT for it, and the VIPs bound on a dummy device (lb/README.md, "ipvs").
 * {@link #update} hands the snapshot to a {@link CoalescingSync}, whose thread runs the
 * {@link IpvsSyncer}; while real servers drain, a ticker re-offers the last snapshot so that their
 * connection counts are read again.
 */
public final class IpvsDataPlane implements DataPlane {
    /** The kind the agent chooses with {@code --dataplane ipvs}. */
    public static final DataPlaneKind KIND = new DataPlaneKind("ipvs", IpvsConfig.FLAG_TABLE, IpvsConfig::parse,
            (flags, vips) -> {
                try {
                    preflight(Exec.local(), Exec.onPath("ipvsadm"));
                    return null;
                } catch (IllegalStateException e) {
                    return e.getMessage();
                }
            },
            (flags, meters) -> create(IpvsConfig.parse(flags), Exec.local(), meters), flags -> cleanup(IpvsConfig.parse(flags), Exec.local()));

    /** While real servers drain, the plane re-syncs this often to read their connection counts. */
    static final Duration DRAIN_TICK = Duration.ofSeconds(1);

    private final IpvsSyncer syncer;
    private final CoalescingSync sync;
    private final ScheduledExecutorService ticker;
    private volatile ClusterSnapshot last;

    IpvsDataPlane(IpvsConfig config, Exec exec, MeterRegistry meters) {
        this.syncer = new IpvsSyncer(config, exec, meters, Path.of("/proc/sys"));
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "ipvs-drain-tick");
            t.setDaemon(true);
            return t;
        });
        this.sync = new CoalescingSync("ipvs", syncer, config.minSyncInterval(), config.maxBackoff(), config.fullResyncInterval());
        long tick = DRAIN_TICK.toMillis();
        ticker.scheduleWithFixedDelay(() -> {
            ClusterSnapshot s = last;
            if (s != null && syncer.draining()) {
                sync.offer(s);
            }
        }, tick, tick, TimeUnit.MILLISECONDS);
    }

    /** Checks that IPVS can work here (see {@link #preflight}), then starts the plane. */
    static IpvsDataPlane create(IpvsConfig config, Exec exec, MeterRegistry meters) {
        preflight(exec, Exec.onPath("ipvsadm"));
        return new IpvsDataPlane(config, exec, meters);
    }

    /**
     * Fails at start, with what to do, where IPVS cannot work: no ipvsadm, or a kernel without the
     * ip_vs module (ipvsadm loads it when it can). Without this the plane would start and then
     * retry a failing full sync forever while the agent reported itself up.
     */
    static void preflight(Exec exec, boolean ipvsadmInstalled) {
        if (!ipvsadmInstalled) {
            throw new IllegalStateException("--dataplane ipvs: ipvsadm is not installed (Debian package ipvsadm); "
                    + "use --dataplane nftables or userspace");
        }
        Exec.Result r;
        try {
            r = exec.run(List.of("ipvsadm", "-L", "-n", "--timeout"), null, Duration.ofSeconds(30));
        } catch (IOException e) {
            throw new IllegalStateException("--dataplane ipvs: cannot run ipvsadm: " + e.getMessage(), e);
        }
        if (r.code() != 0) {
            throw new IllegalStateException("--dataplane ipvs: this kernel has no IPVS (ipvsadm -L --timeout exited " + r.code()
                    + ": " + r.errOrOut().strip() + "); use --dataplane nftables or userspace");
        }
    }

    /** See {@link IpvsHost#cleanup}. */
    static void cleanup(IpvsConfig config, Exec exec) {
        try {
            IpvsHost.cleanup(config, exec);
        } catch (IOException e) {
            throw new IllegalStateException("ipvs cleanup failed: " + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return "ipvs";
    }

    @Override
    public boolean coalesces() {
        return true;
    }

    @Override
    public void update(ClusterSnapshot snapshot) {
        last = snapshot;
        sync.offer(snapshot);
    }

    @Override
    public io.portolan.lb.DataPlaneStatus status() {
        return sync.status(syncer.rejectedServices(), List.of(), "IPVS keeps its counters in the kernel: ipvsadm -L -n --stats");
    }

    CoalescingSync sync() {
        return sync;
    }

    @Override
    public void close() {
        ticker.shutdownNow();
        sync.close();
        syncer.close(); // ends the ipvsadm -R session (it would also exit at the JVM's exit: its stdin closes)
    }
}
