package io.portolan.lb.ipvs;

import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.lb.DataPlane;
import io.portolan.lb.sync.CoalescingSync;
import io.portolan.proto.ClusterSnapshot;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The ipvs data plane (issue 5): a firewall mark per VIP service port (and per published port), a
 * mangle rule that marks the traffic, an IPVS virtual service by that mark with masquerading real
 * servers, SNAT for it, and the VIPs bound on a dummy device. See lb/README.md, section "ipvs".
 * Factory contract the agent relies on: {@link #FLAGS}, {@link #create} and {@link #cleanup}.
 */
public final class IpvsDataPlane {
    private static final Logger log = LoggerFactory.getLogger(IpvsDataPlane.class);

    /** Flag names without dashes; the agent passes those given as {@code --NAME VALUE}. */
    public static final Set<String> FLAGS = IpvsConfig.FLAG_NAMES;

    /** While real servers drain, the plane re-syncs this often to read their connection counts. */
    static final Duration DRAIN_TICK = Duration.ofSeconds(1);

    private IpvsDataPlane() {
    }

    /** Validates {@code flags} (errors name the flag and value) and starts the data plane. */
    public static DataPlane create(Map<String, String> flags, MeterRegistry meters) {
        IpvsConfig config = IpvsConfig.parse(flags);
        Shell shell = new Shell();
        preflight(shell, Shell.onPath("ipvsadm"));
        return new Plane(config, shell, meters);
    }

    /**
     * Fails at start, with what to do, where IPVS cannot work: no ipvsadm, or a kernel without the
     * ip_vs module (ipvsadm loads it when it can). Without this the plane would start and then
     * retry a failing full sync forever while the agent reported itself up.
     */
    static void preflight(Shell shell, boolean ipvsadmInstalled) {
        if (!ipvsadmInstalled) {
            throw new IllegalStateException("--dataplane ipvs: ipvsadm is not installed (Debian package ipvsadm); "
                    + "use --dataplane nftables or userspace");
        }
        Shell.Result r;
        try {
            r = shell.run(List.of("ipvsadm", "-L", "-n", "--timeout"), null, Duration.ofSeconds(30));
        } catch (java.io.IOException e) {
            throw new IllegalStateException("--dataplane ipvs: cannot run ipvsadm: " + e.getMessage(), e);
        }
        if (r.code() != 0) {
            throw new IllegalStateException("--dataplane ipvs: this kernel has no IPVS (ipvsadm -L --timeout exited " + r.code()
                    + ": " + r.errOrOut().strip() + "); use --dataplane nftables or userspace");
        }
    }

    /**
     * Removes everything this data plane made on this host, and nothing else: the fwmark virtual
     * services in its mark range, its chains and the jumps to them, its dummy device (or its
     * {@code lo:portolan} addresses). A no-op for the parts whose tool or kernel module is absent;
     * it never loads a module. Sysctls and IPVS timeouts are left as they are.
     */
    public static void cleanup(Map<String, String> flags) {
        IpvsConfig config = IpvsConfig.parse(flags);
        Shell sh = new Shell();
        Duration t = Duration.ofMinutes(5);
        try {
            if (Files.exists(Path.of("/proc/net/ip_vs")) && Shell.onPath("ipvsadm")) {
                Shell.Result save = sh.run(List.of("ipvsadm", "-S", "-n"), null, t);
                KernelTable table = KernelTable.parseSave(save.out(), config::ownsMark);
                StringBuilder batch = new StringBuilder();
                table.services.keySet().forEach(m -> batch.append("-D -f ").append(Integer.toUnsignedString(m)).append('\n'));
                if (batch.length() > 0) {
                    Shell.Result r = sh.run(List.of("ipvsadm", "-R"), batch.toString(), t);
                    log.info("ipvs cleanup: deleted {} virtual services{}", table.services.size(), r.clean() ? "" : " (" + r.errOrOut() + ")");
                }
            }
            if (Shell.onPath("iptables")) {
                for (String[] j : MarkRules.jumps()) {
                    for (int i = 0; i < 16; i++) {
                        if (sh.run(List.of("iptables", "-w", "5", "-t", j[0], "-D", j[1], "-j", j[2]), null, t).code() != 0) {
                            break;
                        }
                    }
                    sh.run(List.of("iptables", "-w", "5", "-t", j[0], "-F", j[2]), null, t);
                    sh.run(List.of("iptables", "-w", "5", "-t", j[0], "-X", j[2]), null, t);
                }
            }
            if (Shell.onPath("ip")) {
                if (!config.device().equals("lo") && sh.run(List.of("ip", "-d", "-o", "link", "show", "dev", config.device()), null, t)
                        .out().contains(" dummy ")) {
                    sh.run(List.of("ip", "link", "del", "dev", config.device()), null, t);
                }
                for (InetAddress a : IpvsSyncer.boundAddresses(sh, "lo")) {
                    sh.run(List.of("ip", "addr", "del", a.getHostAddress() + "/32", "dev", "lo"), null, t);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("ipvs cleanup failed: " + e.getMessage(), e);
        }
    }

    /** The running plane: update() hands the snapshot to the sync thread and returns. */
    static final class Plane implements DataPlane {
        private final IpvsSyncer syncer;
        private final CoalescingSync sync;
        private final ScheduledExecutorService ticker;
        private volatile ClusterSnapshot last;

        Plane(IpvsConfig config, Shell shell, MeterRegistry meters) {
            this.syncer = new IpvsSyncer(config, shell, meters);
            this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "ipvs-drain-tick");
                t.setDaemon(true);
                return t;
            });
            this.sync = new CoalescingSync("ipvs", (snapshot, full) -> {
                syncer.sync(snapshot, full);
            }, config.minSyncInterval(), config.maxBackoff(), config.fullResyncInterval());
            long tick = DRAIN_TICK.toMillis();
            ticker.scheduleWithFixedDelay(() -> {
                ClusterSnapshot s = last;
                if (s != null && syncer.draining()) {
                    sync.offer(s);
                }
            }, tick, tick, TimeUnit.MILLISECONDS);
        }

        @Override
        public String name() {
            return "ipvs";
        }

        @Override
        public void update(ClusterSnapshot snapshot) {
            last = snapshot;
            sync.offer(snapshot);
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

}
