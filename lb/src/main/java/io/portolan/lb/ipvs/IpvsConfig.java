package io.portolan.lb.ipvs;

import io.portolan.lb.host.VipAddresses;
import io.portolan.proto.Cidr;
import io.portolan.proto.Flag;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Values;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Settings of the ipvs data plane, parsed from the agent's {@code --ipvs-*} flags (names without
 * the leading dashes; other entries are other modules' and ignored). Every value is parsed here,
 * with the project's value grammar, before anything reaches a command line.
 *
 * @param device         the dummy device the VIPs are bound to (created if absent; {@code lo} if
 *                       the kernel has no dummy module, addresses then carry the label {@code lo:portolan})
 * @param markBase       first firewall mark of the range this plane owns; its low {@code markBits} bits are 0
 * @param markBits       the range holds {@code 2^markBits} marks
 * @param masquerade     SNAT (MASQUERADE) IPVS traffic whose real server is in this prefix; null: never
 */
record IpvsConfig(String device, Duration tcpTimeout, Duration tcpFinTimeout, Duration udpTimeout, Duration drainTimeout,
                  Duration minSyncInterval, Duration maxBackoff, Duration fullResyncInterval, int markBase, int markBits,
                  Cidr masquerade, String masqueradeText, boolean ipForward) {

    static final String DEFAULT_DEVICE = "portolan-ipvs";
    static final int DEFAULT_MARK_BASE = 0x0c000000;
    static final int DEFAULT_MARK_BITS = 20;

    /** The flags {@link #parse} reads (their defaults from here) and {@code --help} prints: add a row here and read it in {@code parse}. */
    static final List<Flag> FLAG_TABLE = List.of(
            Flag.of("ipvs-device", "DEV", DEFAULT_DEVICE, "the dummy device the VIPs are bound on"),
            Flag.of("ipvs-tcp-timeout", "DURATION", "3h", "IPVS timeout of an established TCP connection (whole seconds)"),
            Flag.of("ipvs-tcpfin-timeout", "DURATION", "2m", "IPVS timeout of a TCP connection after FIN (whole seconds)"),
            Flag.of("ipvs-udp-timeout", "DURATION", "5m", "IPVS timeout of a UDP flow (whole seconds)"),
            Flag.of("ipvs-drain-timeout", "DURATION", "30s", "how long a removed real server keeps weight 0 while it drains"),
            Flag.of("ipvs-min-sync-interval", "DURATION", "100ms", "changes are applied at most this often"),
            Flag.of("ipvs-max-backoff", "DURATION", "30s", "the longest wait between retries of a failed sync"),
            Flag.of("ipvs-full-resync-interval", "DURATION", "5m", "a full sync against the kernel this often; 0 is never"),
            Flag.of("ipvs-mark-base", "MARK", "0x" + Integer.toHexString(DEFAULT_MARK_BASE), "the first firewall mark of the range this plane owns"),
            Flag.of("ipvs-mark-bits", "N", String.valueOf(DEFAULT_MARK_BITS), "the range holds 2^N marks, 8-24"),
            Flag.of("ipvs-masquerade-cidr", "CIDR|none", "0.0.0.0/0", "SNAT IPVS traffic to real servers in this prefix"),
            Flag.of("ipvs-ip-forward", "true|false", "true", "set net.ipv4.ip_forward=1 at start"));

    static final Set<String> FLAG_NAMES = Flag.valueNames(FLAG_TABLE);

    private static String def(String name) {
        return Flag.named(FLAG_TABLE, name).dflt();
    }

    static final IpvsConfig DEFAULT = parse(Map.of());

    int markCount() {
        return 1 << markBits;
    }

    /** The mask that selects the fixed (base) bits of every mark this plane owns. */
    int markMask() {
        return ~(markCount() - 1);
    }

    boolean ownsMark(long mark) {
        return mark >= 0 && ((int) mark & markMask()) == markBase && (mark >>> 32) == 0;
    }

    static IpvsConfig parse(Map<String, String> flags) {
        for (String k : new TreeSet<>(flags.keySet())) {
            if (k.startsWith("ipvs-") && !FLAG_NAMES.contains(k)) {
                throw new ValidationException("--" + k, flags.get(k), "unknown ipvs flag; known: " + new TreeSet<>(FLAG_NAMES));
            }
        }
        String device = VipAddresses.checkDevice("--ipvs-device", flags.getOrDefault("ipvs-device", def("ipvs-device")), 15);
        Duration tcp = seconds(flags, "ipvs-tcp-timeout", def("ipvs-tcp-timeout"), 1, 31 * 24 * 3600);
        Duration fin = seconds(flags, "ipvs-tcpfin-timeout", def("ipvs-tcpfin-timeout"), 1, 24 * 3600);
        Duration udp = seconds(flags, "ipvs-udp-timeout", def("ipvs-udp-timeout"), 1, 24 * 3600);
        Duration drain = duration(flags, "ipvs-drain-timeout", def("ipvs-drain-timeout"), Duration.ZERO, Duration.ofHours(24));
        Duration minSync = duration(flags, "ipvs-min-sync-interval", def("ipvs-min-sync-interval"), Duration.ZERO, Duration.ofMinutes(10));
        Duration backoff = duration(flags, "ipvs-max-backoff", def("ipvs-max-backoff"), Duration.ofMillis(100), Duration.ofHours(1));
        Duration resync = duration(flags, "ipvs-full-resync-interval", def("ipvs-full-resync-interval"), Duration.ZERO, Duration.ofDays(1));
        int bits = Values.integer("--ipvs-mark-bits", flags.getOrDefault("ipvs-mark-bits", def("ipvs-mark-bits")), 8, 24);
        String baseText = flags.getOrDefault("ipvs-mark-base", def("ipvs-mark-base"));
        long base = parseMark("--ipvs-mark-base", baseText);
        if ((base & ((1L << bits) - 1)) != 0 || base == 0) {
            throw new ValidationException("--ipvs-mark-base", baseText, "a non-zero mark whose low --ipvs-mark-bits (" + bits
                    + ") bits are 0, e.g. 0x0c000000, so that one mask selects every mark of the range");
        }
        String masqText = flags.getOrDefault("ipvs-masquerade-cidr", def("ipvs-masquerade-cidr"));
        Cidr masq = null;
        if (!masqText.equals("none")) {
            if (masqText.equals("0.0.0.0/0")) {
                masq = null;
            } else {
                masq = Cidr.parse("--ipvs-masquerade-cidr", masqText);
                if (masq.toString().indexOf(':') >= 0) {
                    throw new ValidationException("--ipvs-masquerade-cidr", masqText, "an IPv4 prefix (the ipvs plane is IPv4 only), 0.0.0.0/0 or none");
                }
            }
        }
        String fwd = flags.getOrDefault("ipvs-ip-forward", def("ipvs-ip-forward"));
        if (!fwd.equals("true") && !fwd.equals("false")) {
            throw new ValidationException("--ipvs-ip-forward", fwd, "true or false");
        }
        return new IpvsConfig(device, tcp, fin, udp, drain, minSync, backoff, resync, (int) base, bits, masq, masqText,
                fwd.equals("true"));
    }

    static long parseMark(String field, String s) {
        try {
            long v = s.startsWith("0x") || s.startsWith("0X") ? Long.parseLong(s.substring(2), 16) : Long.parseLong(s);
            if (v < 0 || v > 0xffffffffL || s.length() > 12) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new ValidationException(field, s, "a 32-bit mark, decimal or 0x-hex, e.g. 0x0c000000");
        }
    }

    private static Duration duration(Map<String, String> flags, String name, String def, Duration min, Duration max) {
        return Values.duration("--" + name, flags.getOrDefault(name, def), min, max);
    }

    /** A duration IPVS takes in whole seconds. */
    private static Duration seconds(Map<String, String> flags, String name, String def, int min, int max) {
        return Values.wholeSeconds("--" + name, flags.getOrDefault(name, def), Duration.ofSeconds(min), Duration.ofSeconds(max));
    }
}
