package io.portolan.lb.nftables;

import io.portolan.lb.host.VipAddresses;
import io.portolan.proto.Flag;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Values;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The nftables data plane's settings, parsed from {@code --nft-*} flags. Every value is checked
 * here, before anything reaches a command line.
 */
record NftConfig(String table, Duration minSyncInterval, Duration maxBackoff, Duration fullResync, int slots,
                 Masquerade masquerade, long mark, String vipDevice, Duration affinityTimeout) {

    /** Which DNATed traffic is marked for masquerade in postrouting. */
    enum Masquerade {
        ALL, PUBLISHED, NONE;

        String lower() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final String TABLE = "nft-table";
    static final String MIN_SYNC_INTERVAL = "nft-min-sync-interval";
    static final String MAX_BACKOFF = "nft-max-backoff";
    static final String FULL_RESYNC = "nft-full-resync";
    static final String SLOTS = "nft-slots";
    static final String MASQUERADE = "nft-masquerade";
    static final String MARK = "nft-mark";
    static final String VIP_DEVICE = "nft-vip-device";
    static final String AFFINITY_TIMEOUT = "nft-affinity-timeout";

    static final NftConfig DEFAULTS = new NftConfig("portolan", Duration.ofMillis(500), Duration.ofSeconds(30),
            Duration.ofHours(1), 64, Masquerade.ALL, 0x4000, null, Duration.ofMinutes(3));

    /** The flags {@link #parse} reads and {@code --help} prints: add a row here and read it in {@code parse}. */
    static final List<Flag> FLAG_TABLE = List.of(
            Flag.of(TABLE, "NAME", DEFAULTS.table, "the nftables table (family ip) this plane owns"),
            Flag.of(MIN_SYNC_INTERVAL, "DURATION", Values.text(DEFAULTS.minSyncInterval), "changes are applied at most this often"),
            Flag.of(MAX_BACKOFF, "DURATION", Values.text(DEFAULTS.maxBackoff), "the longest wait between retries of a failed sync"),
            Flag.of(FULL_RESYNC, "DURATION", Values.text(DEFAULTS.fullResync), "a full sync against the kernel this often; 0 is never"),
            Flag.of(SLOTS, "N", String.valueOf(DEFAULTS.slots), "most slots per service port (weights are slot counts), 1-1024"),
            Flag.of(MASQUERADE, "all|published|none", DEFAULTS.masquerade.lower(), "which DNATed traffic is masqueraded"),
            Flag.of(MARK, "MARK", "0x4000", "packet mark bit(s) used to pick traffic to masquerade"),
            Flag.of(VIP_DEVICE, "DEV|none", "none", "also put each VIP on DEV as /32 (the kernel DNATs without it)"),
            Flag.of(AFFINITY_TIMEOUT, "DURATION", Values.text(DEFAULTS.affinityTimeout), "how long sh (source hash) affinity lasts"));

    static final Set<String> FLAGS = Flag.valueNames(FLAG_TABLE);

    /** Parses the {@code nft-*} entries of {@code flags}; other planes' flags (ipvs-*, lb-*) are theirs to check. */
    static NftConfig parse(Map<String, String> flags) {
        for (String k : flags.keySet()) {
            if (k.startsWith("nft-") && !FLAGS.contains(k)) {
                throw new ValidationException("--" + k, flags.get(k), "not an nftables flag; known: " + new java.util.TreeSet<>(FLAGS));
            }
        }
        NftConfig d = DEFAULTS;
        String table = flags.getOrDefault(TABLE, d.table);
        if (!isIdentifier(table, 32)) {
            throw new ValidationException("--" + TABLE, table, "a table name is 1-32 of a-z, 0-9, '_' and '-', starting with a letter");
        }
        if (KEYWORDS.contains(table)) {
            throw new ValidationException("--" + TABLE, table, "an nft keyword, which nft cannot read as a table name;"
                    + " choose another (default " + d.table + ")");
        }
        Duration min = duration(flags, MIN_SYNC_INTERVAL, d.minSyncInterval, Duration.ZERO, Duration.ofMinutes(10));
        Duration backoff = duration(flags, MAX_BACKOFF, d.maxBackoff, Duration.ofMillis(100), Duration.ofHours(1));
        Duration full = duration(flags, FULL_RESYNC, d.fullResync, Duration.ZERO, Duration.ofDays(7));
        if (!full.isZero() && full.compareTo(Duration.ofSeconds(10)) < 0) {
            throw new ValidationException("--" + FULL_RESYNC, flags.get(FULL_RESYNC), "0 (never) or at least 10s");
        }
        int slots = d.slots;
        String s = flags.get(SLOTS);
        if (s != null) {
            slots = Values.integer("--" + SLOTS, s, 1, 1024);
        }
        Masquerade masq = d.masquerade;
        String m = flags.get(MASQUERADE);
        if (m != null) {
            switch (m) {
                case "all" -> masq = Masquerade.ALL;
                case "published" -> masq = Masquerade.PUBLISHED;
                case "none" -> masq = Masquerade.NONE;
                default -> throw new ValidationException("--" + MASQUERADE, m, "one of all, published, none");
            }
        }
        long mark = d.mark;
        String k = flags.get(MARK);
        if (k != null) {
            try {
                mark = k.startsWith("0x") || k.startsWith("0X") ? Long.parseLong(k.substring(2), 16) : Long.parseLong(k);
                if (mark < 1 || mark > 0xffff_ffffL || k.length() > 12) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new ValidationException("--" + MARK, k, "a non-zero 32-bit mark, decimal or 0x-hex (default 0x4000)");
            }
        }
        String dev = flags.get(VIP_DEVICE);
        if (dev != null && (dev.isEmpty() || dev.equals("none"))) {
            dev = null;
        }
        if (dev != null) {
            VipAddresses.checkDevice("--" + VIP_DEVICE, dev, VipAddresses.MAX_LABELLED_DEVICE);
        }
        Duration aff = duration(flags, AFFINITY_TIMEOUT, d.affinityTimeout, Duration.ofSeconds(1), Duration.ofDays(1));
        return new NftConfig(table, min, backoff, full, slots, masq, mark, dev, aff);
    }

    /**
     * Words nft's scanner reads as keywords wherever they stand (nftables' src/scanner.l, as of 1.1), so that
     * {@code add table ip WORD} is a syntax error. nft 1.0.6 (Debian 12) refuses each of them as a table name
     * except destroy, geneve, gre, gretap, last, tunnel, vni and vxlan, which later versions made keywords
     * ({@code NftKernelTest} checks the list against the installed nft). Words nft reads as keywords only
     * after certain others (dport after tcp, state after ct) are names elsewhere, and stay allowed.
     */
    static final Set<String> KEYWORDS = Set.of(
            "accept", "add", "ah", "all", "and", "arp", "auto-merge", "bridge", "cgroup", "chain", "comment", "comp", "constant",
            "continue", "counter", "cpu", "create", "ct", "day", "dccp", "define", "delete", "describe", "destroy", "device",
            "devices", "dnat", "drop", "dst", "dup", "dynamic", "ecn", "element", "elements", "eq", "esp", "ether", "exists",
            "expires", "export", "exthdr", "fib", "flags", "flow", "flowtable", "flush", "frag", "fwd", "gc-interval", "ge",
            "geneve", "get", "goto", "gre", "gretap", "gt", "handle", "hbh", "hook", "hour", "ibriport", "ibrname", "icmp",
            "icmpv6", "igmp", "iif", "iifgroup", "iifname", "iiftype", "import", "include", "index", "inet", "insert", "interval",
            "ip", "ip6", "ipsec", "jhash", "jump", "last", "le", "limit", "list", "log", "lshift", "lt", "map", "mark",
            "masquerade", "meta", "meter", "mh", "missing", "monitor", "ne", "netdev", "nftrace", "not", "notrack", "numgen",
            "obriport", "obrname", "offload", "oif", "oifgroup", "oifname", "oiftype", "or", "osf", "pkttype", "policy",
            "position", "priority", "queue", "quota", "random", "redefine", "redirect", "reject", "rename", "replace", "reset",
            "return", "rshift", "rt", "rt0", "rt2", "rtclassid", "rule", "ruleset", "sctp", "secmark", "set", "size", "skgid",
            "skuid", "snat", "socket", "srh", "symhash", "synproxy", "table", "tcp", "th", "time", "timeout", "tproxy", "tunnel",
            "type", "typeof", "udp", "udplite", "undefine", "update", "vlan", "vmap", "vni", "vxlan", "xor", "xt");

    String markHex() {
        return String.format("0x%08x", mark);
    }

    static boolean isIdentifier(String s, int max) {
        if (s == null || s.isEmpty() || s.length() > max || s.charAt(0) < 'a' || s.charAt(0) > 'z') {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
                return false;
            }
        }
        return true;
    }

    private static Duration duration(Map<String, String> flags, String name, Duration dflt, Duration min, Duration max) {
        String s = flags.get(name);
        return s == null ? dflt : Values.duration("--" + name, s, min, max);
    }
}
