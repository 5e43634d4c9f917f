package io.portolan.lb.ipvs;

import io.portolan.lb.host.Exec;
import io.portolan.lb.host.VipAddresses;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The ipvs plane's chores on the host around the IPVS table: IPVS timeouts and sysctls, the
 * iptables chains and jumps (the mark rules themselves are the plan's, see {@link MarkRules}), the
 * VIP addresses on the plane's dummy device (or on {@code lo} labelled {@value #LO_LABEL} where no
 * dummy device can be made), conntrack entries of UDP flows to removed real servers, and
 * {@code --cleanup}. Every command goes through the host's {@link Exec}.
 */
final class IpvsHost {
    private static final Logger log = LoggerFactory.getLogger(IpvsHost.class);
    static final Duration TIMEOUT = Duration.ofMinutes(5);
    static final String LO_LABEL = "lo:portolan";

    private final IpvsConfig config;
    private final Exec exec;
    private final Path sysctlRoot;
    private VipAddresses vips;
    private final Set<InetAddress> bound = new LinkedHashSet<>();

    /** {@code sysctlRoot}: where the sysctl files are ({@code /proc/sys}; a directory of files in tests). */
    IpvsHost(IpvsConfig config, Exec exec, Path sysctlRoot) {
        this.config = config;
        this.exec = exec;
        this.sysctlRoot = sysctlRoot;
    }

    /** The device the VIPs are on (known after {@link #setUp}). */
    String device() {
        return vips == null ? config.device() : vips.device();
    }

    /** Full sync, first: timeouts, sysctls, the VIP device, the chains and the jumps to them. */
    void setUp() throws IOException {
        Exec.Result r = exec.run(List.of("ipvsadm", "--set", String.valueOf(config.tcpTimeout().toSeconds()),
                String.valueOf(config.tcpFinTimeout().toSeconds()), String.valueOf(config.udpTimeout().toSeconds())), null, TIMEOUT);
        if (r.code() != 0) {
            throw new IOException("ipvsadm --set failed (exit " + r.code() + "): " + r.errOrOut()
                    + "; the ipvs data plane needs the ip_vs kernel module and ipvsadm (use --dataplane userspace where IPVS is missing)");
        }
        sysctl("net/ipv4/vs/conntrack", "1");
        sysctl("net/ipv4/vs/conn_reuse_mode", "1");
        sysctl("net/ipv4/vs/expire_nodest_conn", "1");
        sysctl("net/ipv4/vs/expire_quiescent_template", "1");
        if (config.ipForward()) {
            sysctl("net/ipv4/ip_forward", "1");
        }
        vips = vipDevice();
        Exec.Result n = exec.run(List.of("iptables", "-w", "5", "-t", "mangle", "-N", MarkRules.CHAIN), null, TIMEOUT);
        if (n.code() != 0 && !n.errOrOut().contains("exists")) {
            throw new IOException("iptables -t mangle -N " + MarkRules.CHAIN + " failed: " + n.errOrOut());
        }
        Exec.Result s = exec.run(List.of("iptables-restore", "--noflush", "-w", "5"),
                MarkRules.snatScript(config.markBase(), config.markMask(), config.masquerade() == null ? null : config.masquerade().toString()),
                TIMEOUT);
        if (s.code() != 0) {
            throw new IOException("iptables-restore of the " + MarkRules.SNAT_CHAIN + " chain failed: " + s.errOrOut());
        }
        if (config.masqueradeText().equals("none")) {
            exec.run(List.of("iptables", "-w", "5", "-t", "nat", "-F", MarkRules.SNAT_CHAIN), null, TIMEOUT);
        }
        for (String[] j : MarkRules.jumps()) {
            Exec.Result c = exec.run(List.of("iptables", "-w", "5", "-t", j[0], "-C", j[1], "-j", j[2]), null, TIMEOUT);
            if (c.code() != 0) {
                exec.check(List.of("iptables", "-w", "5", "-t", j[0], "-I", j[1], "1", "-j", j[2]), null, TIMEOUT);
            }
        }
    }

    private void sysctl(String key, String value) throws IOException {
        Path p = sysctlRoot.resolve(key);
        try {
            if (!Files.readString(p).strip().equals(value)) {
                Files.writeString(p, value);
                log.info("ipvs: sysctl {}={}", key.replace('/', '.'), value);
            }
        } catch (IOException e) {
            throw new IOException("cannot set sysctl " + key.replace('/', '.') + "=" + value + " (" + e + "); the agent must run as root", e);
        }
    }

    /** The plane's own dummy device, made if absent; {@code lo} with the label {@value #LO_LABEL} where that fails. */
    private VipAddresses vipDevice() throws IOException {
        if (config.device().equals("lo")) {
            return VipAddresses.shared(exec, "lo", LO_LABEL);
        }
        VipAddresses own = VipAddresses.ownDevice(exec, config.device());
        try {
            own.ensureDummyDevice();
            return own;
        } catch (IOException e) {
            log.warn("ipvs: cannot make the dummy device {} ({}); binding VIPs on lo with the label {} instead", config.device(),
                    e.getMessage(), LO_LABEL);
            return VipAddresses.shared(exec, "lo", LO_LABEL);
        }
    }

    /** Full sync: reads which VIPs are bound (ours: every host address on our device, or the labelled ones on lo). */
    Set<InetAddress> readVips() throws IOException {
        bound.clear();
        bound.addAll(vips.list());
        return bound;
    }

    /** Binds exactly {@code want}: one {@code ip -batch} for the additions and one for the removals. */
    void syncVips(Set<InetAddress> want) throws IOException {
        List<InetAddress> add = want.stream().filter(v -> !bound.contains(v)).toList();
        List<InetAddress> del = bound.stream().filter(v -> !want.contains(v)).toList();
        Map<InetAddress, String> notAdded = vips.add(add);
        if (!notAdded.isEmpty()) {
            throw new IOException("ip address add on " + vips.device() + " failed: " + notAdded);
        }
        bound.addAll(add);
        Map<InetAddress, String> notRemoved = vips.remove(del);
        if (!notRemoved.isEmpty()) {
            log.warn("ipvs: ip address del on {} failed: {}", vips.device(), notRemoved);
        }
        del.forEach(bound::remove);
    }

    /** Forgets the UDP flows to a removed real server, so that they do not stick to it. */
    void clearConntrack(IpvsDiff.ConntrackClear c) {
        List<String> argv = new ArrayList<>(List.of("conntrack", "-D", "-p", "udp"));
        if (c.frontend().vip() != null) {
            argv.addAll(List.of("--orig-dst", c.frontend().vip().getHostAddress()));
        }
        argv.addAll(List.of("--orig-port-dst", String.valueOf(c.frontend().port()), "--reply-src", c.real().address().getHostAddress(),
                "--reply-port-src", String.valueOf(c.real().port())));
        try {
            Exec.Result r = exec.run(argv, null, Duration.ofSeconds(30));
            // exit 1 with "0 flow entries have been deleted" is the normal case of nothing to clear
            if (r.code() != 0 && !r.errOrOut().contains("0 flow entries")) {
                log.warn("ipvs: conntrack -D for {} via {} failed: {}", c.real(), c.frontend(), r.errOrOut());
            }
        } catch (IOException e) {
            log.warn("ipvs: cannot run conntrack to clear UDP flows to {} ({}); install conntrack", c.real(), e.getMessage());
        }
    }

    /**
     * Removes everything the ipvs plane made on this host, and nothing else: the fwmark virtual
     * services in its mark range, its chains and the jumps to them, its dummy device (or its
     * {@value #LO_LABEL} addresses). A no-op for the parts whose tool or kernel module is absent;
     * it never loads a module. Sysctls and IPVS timeouts are left as they are.
     */
    static void cleanup(IpvsConfig config, Exec exec) throws IOException {
        if (Files.exists(Path.of("/proc/net/ip_vs")) && Exec.onPath("ipvsadm")) {
            Exec.Result save = exec.run(List.of("ipvsadm", "-S", "-n"), null, TIMEOUT);
            KernelTable table = KernelTable.parseSave(save.out(), config::ownsMark);
            StringBuilder batch = new StringBuilder();
            table.services.keySet().forEach(m -> batch.append("-D -f ").append(Integer.toUnsignedString(m)).append('\n'));
            if (batch.length() > 0) {
                Exec.Result r = exec.run(List.of("ipvsadm", "-R"), batch.toString(), TIMEOUT);
                log.info("ipvs cleanup: deleted {} virtual services{}", table.services.size(), r.clean() ? "" : " (" + r.errOrOut() + ")");
            }
        }
        if (Exec.onPath("iptables")) {
            for (String[] j : MarkRules.jumps()) {
                for (int i = 0; i < 16; i++) {
                    if (exec.run(List.of("iptables", "-w", "5", "-t", j[0], "-D", j[1], "-j", j[2]), null, TIMEOUT).code() != 0) {
                        break;
                    }
                }
                exec.run(List.of("iptables", "-w", "5", "-t", j[0], "-F", j[2]), null, TIMEOUT);
                exec.run(List.of("iptables", "-w", "5", "-t", j[0], "-X", j[2]), null, TIMEOUT);
            }
        }
        if (Exec.onPath("ip")) {
            if (!config.device().equals("lo")) {
                VipAddresses.ownDevice(exec, config.device()).deleteDummyDevice();
            }
            VipAddresses lo = VipAddresses.shared(exec, "lo", LO_LABEL);
            lo.remove(lo.list());
        }
    }
}
