package io.portolan.lb.ipvs;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.time.Duration;

/**
 * A {@link Shell} that behaves like the tools the syncer runs, on in-memory state: ipvsadm
 * ({@code -R} line by line, going on after a failed line and printing its error as the real one
 * does; {@code -S -n}; {@code -L -n -f}; {@code --set}), iptables-restore/-save for the mangle chain,
 * iptables {@code -N/-C/-I}, ip (link, {@code -o -4 addr show}, {@code -force -batch}) and conntrack.
 * Schedulers other than {@link #SCHEDULERS} are refused like a kernel without the module.
 * Every argv is recorded in {@link #commands}.
 */
final class FakeKernel extends Shell {
    static final Set<String> SCHEDULERS = Set.of("rr", "wrr", "lc", "wlc", "sh", "mh");

    final Map<Long, String> services = new LinkedHashMap<>();          // mark -> scheduler
    final Map<Long, Map<String, Integer>> reals = new LinkedHashMap<>(); // mark -> ip:port -> weight
    final List<String> chain = new ArrayList<>();                       // PORTOLAN-IPVS rule bodies, in order
    final Set<String> addresses = new LinkedHashSet<>();                // "A/32" on the device
    final List<List<String>> commands = new ArrayList<>();
    final List<String> inputs = new ArrayList<>();
    boolean device;

    @Override
    Result run(List<String> argv, String stdin, Duration timeout) {
        commands.add(argv);
        inputs.add(stdin);
        String cmd = argv.get(0);
        return switch (cmd) {
            case "ipvsadm" -> ipvsadm(argv, stdin);
            case "iptables-restore" -> restore(stdin);
            case "iptables-save" -> new Result(0, save(), "");
            case "iptables" -> new Result(argv.contains("-N") ? 1 : 0, "", argv.contains("-N") ? "iptables: Chain already exists." : "");
            case "ip" -> ip(argv, stdin);
            case "conntrack" -> new Result(1, "", "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.");
            default -> new Result(127, "", cmd + ": not found");
        };
    }

    /** The stdin of every {@code ipvsadm -R} run so far. */
    List<String> batches() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < commands.size(); i++) {
            if (commands.get(i).equals(List.of("ipvsadm", "-R"))) {
                out.add(inputs.get(i));
            }
        }
        return out;
    }

    private Result ipvsadm(List<String> argv, String stdin) {
        if (argv.contains("--set")) {
            return new Result(0, "", "");
        }
        if (argv.contains("-S")) {
            StringBuilder b = new StringBuilder();
            services.forEach((m, s) -> {
                b.append("-A -f ").append(m).append(" -s ").append(s).append('\n');
                reals.get(m).forEach((r, w) -> b.append("-a -f ").append(m).append(" -r ").append(r).append(" -m -w ").append(w).append('\n'));
            });
            return new Result(0, b.toString(), "");
        }
        if (argv.contains("-L")) {
            long m = Long.parseLong(argv.get(argv.indexOf("-f") + 1));
            StringBuilder b = new StringBuilder("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n");
            reals.getOrDefault(m, Map.of()).forEach((r, w) -> b.append("  -> ").append(r).append(" Masq ").append(w).append(" 0 0\n"));
            return new Result(0, b.toString(), "");
        }
        StringBuilder err = new StringBuilder();
        int last = 0;
        for (String line : stdin.split("\n")) {
            String[] t = line.split(" ");
            long m = Long.parseLong(t[2]);
            String e = switch (t[0]) {
                case "-A" -> services.containsKey(m) ? "Service already exists"
                        : !SCHEDULERS.contains(t[4]) ? "Scheduler or persistence engine not found" : put(m, t[4]);
                case "-E" -> !services.containsKey(m) ? "No such service"
                        : !SCHEDULERS.contains(t[4]) ? "Scheduler or persistence engine not found" : put(m, t[4]);
                case "-D" -> services.remove(m) == null ? "No such service" : (reals.remove(m) == null ? null : null);
                case "-a", "-e" -> !services.containsKey(m) ? "Service not defined"
                        : t[0].equals("-a") && reals.get(m).containsKey(t[4]) ? "Destination already exists"
                        : t[0].equals("-e") && !reals.get(m).containsKey(t[4]) ? "No such destination"
                        : (reals.get(m).put(t[4], Integer.parseInt(t[7])) == null ? null : null);
                case "-d" -> !services.containsKey(m) ? "Service not defined"
                        : reals.get(m).remove(t[4]) == null ? "No such destination" : null;
                default -> "bad line " + line;
            };
            last = e == null ? 0 : 255;
            if (e != null) {
                err.append(e).append('\n');
            }
        }
        return new Result(last, "", err.toString());
    }

    private String put(long mark, String scheduler) {
        services.put(mark, scheduler);
        reals.computeIfAbsent(mark, k -> new LinkedHashMap<>());
        return null;
    }

    private Result restore(String script) {
        List<String> next = new ArrayList<>(chain);
        String table = "";
        for (String line : script.split("\n")) {
            if (line.startsWith("*")) {
                table = line.substring(1);
            } else if (table.equals("mangle") && line.equals(":" + MarkRules.CHAIN + " - [0:0]")) {
                next.clear();
            } else if (table.equals("mangle") && line.startsWith("-A " + MarkRules.CHAIN + " ")) {
                next.add(line.substring(("-A " + MarkRules.CHAIN + " ").length()));
            } else if (table.equals("mangle") && line.startsWith("-I " + MarkRules.CHAIN + " 1 ")) {
                next.add(0, line.substring(("-I " + MarkRules.CHAIN + " 1 ").length()));
            } else if (table.equals("mangle") && line.startsWith("-D " + MarkRules.CHAIN + " ")) {
                if (!next.remove(line.substring(("-D " + MarkRules.CHAIN + " ").length()))) {
                    return new Result(1, "", "iptables-restore: line failed: " + line);
                }
            }
        }
        chain.clear();
        chain.addAll(next);
        return new Result(0, "", "");
    }

    private String save() {
        StringBuilder b = new StringBuilder("*mangle\n:PREROUTING ACCEPT [0:0]\n:" + MarkRules.CHAIN + " - [0:0]\n-A PREROUTING -j " + MarkRules.CHAIN + "\n");
        chain.forEach(r -> b.append("-A ").append(MarkRules.CHAIN).append(' ').append(r).append('\n'));
        return b.append("COMMIT\n").toString();
    }

    private Result ip(List<String> argv, String stdin) {
        if (argv.contains("-batch")) {
            StringBuilder err = new StringBuilder();
            for (String line : stdin.split("\n")) {
                String[] t = line.split(" ");
                boolean ok = t[1].equals("add") ? addresses.add(t[2]) : addresses.remove(t[2]);
                if (!ok) {
                    err.append(t[1].equals("add") ? "RTNETLINK answers: File exists\n" : "RTNETLINK answers: Cannot assign requested address\n");
                }
            }
            return new Result(err.length() == 0 ? 0 : 1, "", err.toString());
        }
        if (argv.contains("link")) {
            if (argv.contains("add")) {
                device = true;
            }
            return new Result(device || !argv.contains("show") ? 0 : 1, "", "");
        }
        StringBuilder b = new StringBuilder();
        addresses.forEach(a -> b.append("8: portolan-ipvs    inet ").append(a).append(" scope global portolan-ipvs\n"));
        return new Result(0, b.toString(), "");
    }
}
