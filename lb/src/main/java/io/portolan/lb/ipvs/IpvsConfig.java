package io.portolan.lb.ipvs;

import io.portolan.lb.host.VipAddresses;
import io.portolan.proto.Cidr;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Values;

import java.time.Duration;
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

    static final Set<String> FLAG_NAMES = Set.of("ipvs-device", "ipvs-tcp-timeout", "ipvs-tcpfin-timeout", "ipvs-udp-timeout",
            "ipvs-drain-timeout", "ipvs-min-sync-interval", "ipvs-max-backoff", "ipvs-full-resync-interval", "ipvs-mark-base",
            "ipvs-mark-bits", "ipvs-masquerade-cidr", "ipvs-ip-forward");

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
        String device = VipAddresses.checkDevice("--ipvs-device", flags.getOrDefault("ipvs-device", DEFAULT_DEVICE), 15);
        Duration tcp = seconds(flags, "ipvs-tcp-timeout", "3h", 1, 31 * 24 * 3600);
        Duration fin = seconds(flags, "ipvs-tcpfin-timeout", "2m", 1, 24 * 3600);
        Duration udp = seconds(flags, "ipvs-udp-timeout", "5m", 1, 24 * 3600);
        Duration drain = duration(flags, "ipvs-drain-timeout", "30s", Duration.ZERO, Duration.ofHours(24));
        Duration minSync = duration(flags, "ipvs-min-sync-interval", "100ms", Duration.ZERO, Duration.ofMinutes(10));
        Duration backoff = duration(flags, "ipvs-max-backoff", "30s", Duration.ofMillis(100), Duration.ofHours(1));
        Duration resync = duration(flags, "ipvs-full-resync-interval", "5m", Duration.ZERO, Duration.ofDays(1));
        int bits = Values.integer("--ipvs-mark-bits", flags.getOrDefault("ipvs-mark-bits", String.valueOf(DEFAULT_MARK_BITS)), 8, 24);
        String baseText = flags.getOrDefault("ipvs-mark-base", "0x" + Integer.toHexString(DEFAULT_MARK_BASE));
        long base = parseMark("--ipvs-mark-base", baseText);
        if ((base & ((1L << bits) - 1)) != 0 || base == 0) {
            throw new ValidationException("--ipvs-mark-base", baseText, "a non-zero mark whose low --ipvs-mark-bits (" + bits
                    + ") bits are 0, e.g. 0x0c000000, so that one mask selects every mark of the range");
        }
        String masqText = flags.getOrDefault("ipvs-masquerade-cidr", "0.0.0.0/0");
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
        String fwd = flags.getOrDefault("ipvs-ip-forward", "true");
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
