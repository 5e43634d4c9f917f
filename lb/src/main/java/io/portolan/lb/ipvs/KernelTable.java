package io.portolan.lb.ipvs;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.IntPredicate;

/**
 * The IPVS services this plane owns (firewall-mark services whose mark is in its range), as the
 * kernel holds them: read from {@code ipvsadm -S -n} at start and on every full resync, then kept
 * up to date by applying each successful batch to it (no re-read per change). Not thread-safe: the
 * sync thread owns it.
 */
final class KernelTable {
    /** A real server as the kernel has it. */
    record Real(int weight, boolean masquerade) {
    }

    /** A virtual service: its scheduler and real servers. */
    static final class Service {
        String scheduler;
        final SortedMap<Plan.RealServer, Real> reals = new TreeMap<>();

        Service(String scheduler) {
            this.scheduler = scheduler;
        }
    }

    final SortedMap<Integer, Service> services = new TreeMap<>();

    /** Active plus inactive connections of one real server ({@code ipvsadm -L -n -f MARK}). */
    record Connections(int active, int inactive) {
        int total() {
            return active + inactive;
        }
    }

    /**
     * Parses {@code ipvsadm -S -n} output, keeping fwmark services whose mark {@code owned} accepts.
     * Lines it does not understand (other kinds of services, IPv6) are skipped: they are not ours.
     */
    static KernelTable parseSave(String text, IntPredicate owned) {
        KernelTable t = new KernelTable();
        for (String line : text.split("\n")) {
            String[] tok = line.trim().split("\\s+");
            if (tok.length < 3 || !tok[1].equals("-f")) {
                continue;
            }
            long markL;
            try {
                markL = Long.parseLong(tok[2]);
            } catch (NumberFormatException e) {
                continue;
            }
            if (markL <= 0 || markL > 0xffffffffL || !owned.test((int) markL) || contains(tok, "-6")) {
                continue;
            }
            int mark = (int) markL;
            if (tok[0].equals("-A")) {
                String sched = value(tok, "-s");
                t.services.put(mark, new Service(sched == null ? "wlc" : sched));
            } else if (tok[0].equals("-a")) {
                Service s = t.services.get(mark);
                String r = value(tok, "-r");
                if (s == null || r == null) {
                    continue;
                }
                Plan.RealServer rs = parseAddrPort(r);
                if (rs == null) {
                    continue;
                }
                String w = value(tok, "-w");
                int weight = w == null ? 1 : Integer.parseInt(w);
                s.reals.put(rs, new Real(weight, contains(tok, "-m")));
            }
        }
        return t;
    }

    /** Parses the real-server lines of {@code ipvsadm -L -n -f MARK}: address:port to connections. */
    static Map<Plan.RealServer, Connections> parseList(String text) {
        Map<Plan.RealServer, Connections> out = new HashMap<>();
        for (String line : text.split("\n")) {
            String t = line.trim();
            if (!t.startsWith("->")) {
                continue;
            }
            String[] tok = t.split("\\s+");
            if (tok.length < 6) {
                continue;
            }
            Plan.RealServer rs = parseAddrPort(tok[1]);
            if (rs == null) {
                continue;
            }
            try {
                out.put(rs, new Connections(Integer.parseInt(tok[4]), Integer.parseInt(tok[5])));
            } catch (NumberFormatException ignored) {
                // the header line "-> RemoteAddress:Port ..." has no numbers
            }
        }
        return out;
    }

    static Plan.RealServer parseAddrPort(String s) {
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || s.startsWith("[")) {
            return null;
        }
        try {
            InetAddress a = Addresses.ipv4("real server", s.substring(0, colon));
            int port = Integer.parseInt(s.substring(colon + 1));
            if (port < 0 || port > 65535) {
                return null;
            }
            return new Plan.RealServer(a, port);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String value(String[] tok, String flag) {
        for (int i = 0; i + 1 < tok.length; i++) {
            if (tok[i].equals(flag)) {
                return tok[i + 1];
            }
        }
        return null;
    }

    private static boolean contains(String[] tok, String flag) {
        for (String t : tok) {
            if (t.equals(flag)) {
                return true;
            }
        }
        return false;
    }

    /** ipvsadm -S -n form of this table, sorted (for tests and debugging). */
    String text() {
        StringBuilder b = new StringBuilder();
        services.forEach((m, s) -> {
            b.append("-A -f ").append(Integer.toUnsignedString(m)).append(" -s ").append(s.scheduler).append('\n');
            s.reals.forEach((r, k) -> b.append("-a -f ").append(Integer.toUnsignedString(m)).append(" -r ").append(r)
                    .append(k.masquerade ? " -m" : " -g").append(" -w ").append(k.weight).append('\n'));
        });
        return b.toString();
    }
}
