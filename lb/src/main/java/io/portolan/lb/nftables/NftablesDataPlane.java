package io.portolan.lb.nftables;

import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.lb.DataPlane;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The nftables data plane (issue 5): VIPs and published ports DNATed in the kernel through one
 * table, {@code ip portolan}. Factory contract the agent relies on: {@link #FLAGS} (flag names
 * without dashes, each starting with "nft-"), {@link #create} and {@link #cleanup}. The layout and
 * the kernel contract are in lb/README.md, section "nftables".
 */
public final class NftablesDataPlane {
    private static final Logger log = LoggerFactory.getLogger(NftablesDataPlane.class);

    public static final Set<String> FLAGS = NftConfig.FLAGS;

    private NftablesDataPlane() {
    }

    /** Validates {@code flags} (errors name the flag and value) and starts the data plane. */
    public static DataPlane create(Map<String, String> flags, MeterRegistry meters) {
        NftConfig config = NftConfig.parse(flags);
        warnIfNotForwarding();
        return new NftPlane(config, new NftCommand(List.of()), meters);
    }

    /** Removes everything this data plane made on this host (its table, the VIPs it labelled), and nothing else. */
    public static void cleanup(Map<String, String> flags) {
        cleanup(NftConfig.parse(flags), new NftCommand(List.of()));
    }

    static void cleanup(NftConfig config, NftCommand nft) {
        try {
            if (nft.deleteTable(config.table())) {
                log.info("nftables: deleted table ip {}", config.table());
            }
            for (VipDevice.Labelled l : VipDevice.portolanAddresses(nft)) {
                VipDevice.remove(nft, l);
                log.info("nftables: removed VIP {}/32 from {}", l.address().getHostAddress(), l.device());
            }
        } catch (IOException | NftCommand.NftException e) {
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
}
