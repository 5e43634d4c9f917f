package io.portolan.lb.ipvs;

import io.portolan.proto.Protocol;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The iptables side: the mangle chain {@value #CHAIN} that gives each frontend its firewall mark
 * (jumped to from PREROUTING, for traffic from containers and other hosts, and from OUTPUT, for the
 * host's own processes), and the nat chain {@value #SNAT_CHAIN} (from POSTROUTING) that masquerades
 * IPVS traffic carrying one of this plane's marks. Rules are written exactly as {@code iptables-save}
 * prints them, so that the chain read back parses to the same frontends and marks (adoption).
 */
final class MarkRules {
    static final String CHAIN = "PORTOLAN-IPVS";
    static final String SNAT_CHAIN = "PORTOLAN-IPVS-SNAT";

    private static final Pattern VIP_RULE = Pattern.compile(
            "-A " + CHAIN + " -d (\\d+\\.\\d+\\.\\d+\\.\\d+)/32 -p (tcp|udp) -m (?:tcp|udp) --dport (\\d+) -j MARK --set-xmark 0x([0-9a-f]+)/0xffffffff");
    private static final Pattern PUBLISHED_RULE = Pattern.compile(
            "-A " + CHAIN + " -p (tcp|udp) -m addrtype --dst-type LOCAL -m (?:tcp|udp) --dport (\\d+) -j MARK --set-xmark 0x([0-9a-f]+)/0xffffffff");

    private MarkRules() {
    }

    /** The rule body (after {@code -A CHAIN}) for one frontend. */
    static String rule(MarkedPort f, int mark) {
        String p = f.protocol().lower();
        String mk = "-j MARK --set-xmark 0x" + Integer.toHexString(mark) + "/0xffffffff";
        if (f.published()) {
            return "-p " + p + " -m addrtype --dst-type LOCAL -m " + p + " --dport " + f.port() + " " + mk;
        }
        return "-d " + f.vip().getHostAddress() + "/32 -p " + p + " -m " + p + " --dport " + f.port() + " " + mk;
    }

    /** MarkedPort to mark, from {@code iptables-save -t mangle}; rules of other shapes are ignored. */
    static Map<MarkedPort, Integer> parse(String save) {
        Map<MarkedPort, Integer> out = new HashMap<>();
        for (String line : save.split("\n")) {
            line = line.trim();
            if (!line.startsWith("-A " + CHAIN + " ")) {
                continue;
            }
            Matcher m = VIP_RULE.matcher(line);
            try {
                if (m.matches()) {
                    out.put(new MarkedPort(Protocol.parse("protocol", m.group(2)), Addresses.ipv4("vip", m.group(1)),
                            Integer.parseInt(m.group(3))), (int) Long.parseLong(m.group(4), 16));
                    continue;
                }
                m = PUBLISHED_RULE.matcher(line);
                if (m.matches()) {
                    out.put(new MarkedPort(Protocol.parse("protocol", m.group(1)), null, Integer.parseInt(m.group(2))),
                            (int) Long.parseLong(m.group(3), 16));
                }
            } catch (RuntimeException ignored) {
                // not a rule this plane wrote
            }
        }
        return out;
    }

    /**
     * An {@code iptables-restore --noflush} script. With {@code full}, the chain is declared (which
     * empties it) and every rule written; otherwise only the deletions and additions. Published-port
     * rules go first (inserted at the top), VIP rules after them, so that a VIP's own rule wins
     * when a VIP port equals a published port (both set the whole mark; the last one counts).
     */
    static String script(boolean full, Map<MarkedPort, Integer> all, Map<MarkedPort, Integer> remove, Map<MarkedPort, Integer> add) {
        StringBuilder b = new StringBuilder("*mangle\n");
        if (full) {
            b.append(':').append(CHAIN).append(" - [0:0]\n");
            all.entrySet().stream().filter(e -> e.getKey().published()).sorted(Map.Entry.comparingByKey())
                    .forEach(e -> b.append("-A ").append(CHAIN).append(' ').append(rule(e.getKey(), e.getValue())).append('\n'));
            all.entrySet().stream().filter(e -> !e.getKey().published()).sorted(Map.Entry.comparingByKey())
                    .forEach(e -> b.append("-A ").append(CHAIN).append(' ').append(rule(e.getKey(), e.getValue())).append('\n'));
        } else {
            remove.entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .forEach(e -> b.append("-D ").append(CHAIN).append(' ').append(rule(e.getKey(), e.getValue())).append('\n'));
            add.entrySet().stream().sorted(Map.Entry.comparingByKey())
                    .forEach(e -> b.append(e.getKey().published() ? "-I " + CHAIN + " 1 " : "-A " + CHAIN + " ")
                            .append(rule(e.getKey(), e.getValue())).append('\n'));
        }
        return b.append("COMMIT\n").toString();
    }

    /** The nat chain, rewritten whole: masquerade IPVS-forwarded packets that carry one of our marks. */
    static String snatScript(int markBase, int markMask, String realServerCidr) {
        return "*nat\n:" + SNAT_CHAIN + " - [0:0]\n"
                + "-A " + SNAT_CHAIN + (realServerCidr == null ? "" : " -d " + realServerCidr)
                + " -m mark --mark 0x" + Integer.toHexString(markBase) + "/0x" + Integer.toHexString(markMask)
                + " -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE\nCOMMIT\n";
    }

    /** The jumps into our chains: table, built-in chain, target. */
    static List<String[]> jumps() {
        return List.of(new String[] {"mangle", "PREROUTING", CHAIN}, new String[] {"mangle", "OUTPUT", CHAIN},
                new String[] {"nat", "POSTROUTING", SNAT_CHAIN});
    }
}
