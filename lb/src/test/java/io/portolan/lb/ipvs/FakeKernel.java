package io.portolan.lb.ipvs;

import io.portolan.lb.host.Exec;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.time.Duration;

/**
 * A {@link Exec} that behaves like the tools the syncer runs, on in-memory state: ipvsadm
 * ({@code -R} line by line, going on after a failed line and printing its error as the real one
 * does; {@code -S -n}; {@code -L -n -f}; {@code --set}), iptables-restore/-save for the mangle chain,
 * iptables {@code -N/-C/-I}, ip (link, {@code -j addr show}, {@code -force -batch}) and conntrack.
 * Schedulers other than {@link #SCHEDULERS} are refused like a kernel without the module.
 * Every argv is recorded in {@link #commands}. {@link #start} gives a long-lived
 * {@code stdbuf -oL ipvsadm -R} that runs each line as it is written, answers on one stream in
 * order, and exits like the real one on a line it cannot parse or a listing of a missing service;
 * {@link #dieAfter} and {@link #killSessions} make it die.
 */
final class FakeKernel implements Exec {
    static final Set<String> SCHEDULERS = Set.of("rr", "wrr", "lc", "wlc", "sh", "mh");

    final Map<Long, String> services = new LinkedHashMap<>();          // mark -> scheduler
    final Map<Long, Map<String, Integer>> reals = new LinkedHashMap<>(); // mark -> ip:port -> weight
    final List<String> chain = new ArrayList<>();                       // PORTOLAN-IPVS rule bodies, in order
    final Set<String> addresses = new LinkedHashSet<>();                // "A/32" on the device
    final List<List<String>> commands = new ArrayList<>();
    final List<String> inputs = new ArrayList<>();
    boolean device;
    /** Session lines still allowed before the session process dies (negative: never). */
    int dieAfter = -1;
    /** Mutation lines received by sessions since their last flush (one flush per call: a batch). */
    private final List<String> sessionBatch = new ArrayList<>();
    private final List<String> sessionBatches = new ArrayList<>();
    private final List<FakeProcess> sessions = new ArrayList<>();

    @Override
    public Process start(List<String> argv) {
        commands.add(argv);
        inputs.add(null);
        if (!argv.equals(IpvsadmSession.ARGV)) {
            throw new IllegalArgumentException("FakeKernel cannot start " + argv);
        }
        FakeProcess p = new FakeProcess();
        sessions.add(p);
        return p;
    }

    /** Kills every session process (as if someone sent it SIGKILL between syncs). */
    void killSessions() {
        sessions.forEach(FakeProcess::die);
    }

    /** The ipvsadm processes started (one-shot runs and sessions). */
    long ipvsadmStarts() {
        return commands.stream().filter(c -> c.contains("ipvsadm")).count();
    }

    @Override
    public Result run(List<String> argv, String stdin, Duration timeout) {
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

    /** The change lines of every {@code ipvsadm -R} run, or session call, so far (listing-only runs left out). */
    List<String> batches() {
        List<String> out = new ArrayList<>(sessionBatches);
        for (int i = 0; i < commands.size(); i++) {
            if (commands.get(i).equals(List.of("ipvsadm", "-R")) && !inputs.get(i).startsWith("-L ") && !inputs.get(i).startsWith("-S ")) {
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
            return new Result(0, ipvsSave(), "");
        }
        if (argv.contains("-L")) {
            return list(Long.parseLong(argv.get(argv.indexOf("-f") + 1)));
        }
        StringBuilder err = new StringBuilder();
        StringBuilder out = new StringBuilder();
        int last = 0;
        for (String line : stdin.split("\n")) {
            if (line.startsWith("-L ") || line.startsWith("-S ")) {
                Result r = line.startsWith("-S ") ? new Result(0, ipvsSave(), "") : list(Long.parseLong(line.split(" ")[3]));
                out.append(r.out());
                err.append(r.err());
                if (r.code() != 0) {
                    return new Result(r.code(), out.toString(), err.toString());
                }
                continue;
            }
            String e = change(line);
            if (e != null && e.startsWith("!")) {
                return new Result(2, out.toString(), err.append(e.substring(1)).append('\n').toString());
            }
            last = e == null ? 0 : 255;
            if (e != null) {
                err.append(e).append('\n');
            }
        }
        return new Result(last, out.toString(), err.toString());
    }

    private String ipvsSave() {
        StringBuilder b = new StringBuilder();
        services.forEach((m, s) -> {
            b.append("-A -f ").append(m).append(" -s ").append(s).append('\n');
            reals.get(m).forEach((r, w) -> b.append("-a -f ").append(m).append(" -r ").append(r).append(" -m -w ").append(w).append('\n'));
        });
        return b.toString();
    }

    /** ipvsadm -L -n -f MARK: exit 2 with "No such service" when it is missing. */
    private Result list(long m) {
        if (!services.containsKey(m)) {
            return new Result(2, "", "No such service\n");
        }
        StringBuilder b = new StringBuilder("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n");
        b.append("FWM  ").append(m).append(' ').append(services.get(m)).append('\n');
        reals.get(m).forEach((r, w) -> b.append("  -> ").append(r).append(" Masq ").append(w).append(" 0 0\n"));
        return new Result(0, b.toString(), "");
    }

    /** One change line: its error text, null when it went through, or a parse error ("!" first: ipvsadm exits). */
    private String change(String line) {
        String[] t = line.split(" ");
        if (t.length < 3 || !t[1].equals("-f")) {
            return "!illegal line " + line;
        }
        long m = Long.parseLong(t[2]);
        return switch (t[0]) {
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
            default -> "!invalid option " + t[0];
        };
    }

    /** One session line, as the real -R runs it: its output, and whether ipvsadm exits after it. */
    private synchronized String sessionLine(String line, boolean[] exit) {
        if (line.equals(IpvsadmSession.SENTINEL)) {
            return "Timeout (tcp tcpfin udp): 10800 120 300\n";
        }
        if (line.startsWith("-L ") || line.startsWith("-S ")) {
            Result r = line.startsWith("-S ") ? new Result(0, ipvsSave(), "") : list(Long.parseLong(line.split(" ")[3]));
            exit[0] = r.code() != 0;
            return r.out() + r.err();
        }
        sessionBatch.add(line);
        String e = change(line);
        if (e != null && e.startsWith("!")) {
            exit[0] = true;
            return e.substring(1) + "\n";
        }
        return e == null ? "" : e + "\n";
    }

    private synchronized void sessionFlush() {
        if (!sessionBatch.isEmpty()) {
            sessionBatches.add(String.join("\n", sessionBatch) + "\n");
            sessionBatch.clear();
        }
    }

    /** A running {@code ipvsadm -R}: lines run in the writer's thread as they arrive; output queued for the reader. */
    private final class FakeProcess extends Process {
        private final java.util.concurrent.LinkedBlockingQueue<Integer> out = new java.util.concurrent.LinkedBlockingQueue<>();
        private final java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        private volatile boolean alive = true;

        private final java.io.OutputStream stdin = new java.io.OutputStream() {
            @Override
            public void write(int b) throws java.io.IOException {
                if (!alive) {
                    throw new java.io.IOException("Broken pipe");
                }
                if (b != '\n') {
                    line.write(b);
                    return;
                }
                String l = line.toString(java.nio.charset.StandardCharsets.UTF_8);
                line.reset();
                if (dieAfter == 0) {
                    die();
                    throw new java.io.IOException("Broken pipe");
                }
                if (dieAfter > 0) {
                    dieAfter--;
                }
                boolean[] exit = {false};
                for (byte c : sessionLine(l, exit).getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
                    out.add(c & 0xff);
                }
                if (exit[0]) {
                    die();
                }
            }

            @Override
            public void flush() {
                sessionFlush();
            }

            @Override
            public void close() {
                sessionFlush();
                die();
            }
        };

        private final java.io.InputStream stdout = new java.io.InputStream() {
            @Override
            public int read() throws java.io.IOException {
                try {
                    int b = out.take();
                    if (b < 0) {
                        out.add(-1);
                    }
                    return b;
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
            }

            /** Blocks for the first byte only, then returns what is there (as a pipe does). */
            @Override
            public int read(byte[] b, int off, int len) throws java.io.IOException {
                if (len == 0) {
                    return 0;
                }
                int first = read();
                if (first < 0) {
                    return -1;
                }
                b[off] = (byte) first;
                int n = 1;
                for (Integer next = out.peek(); n < len && next != null && next >= 0; next = out.peek()) {
                    b[off + n++] = (byte) (int) out.poll();
                }
                return n;
            }
        };

        void die() {
            if (alive) {
                alive = false;
                out.add(-1);
            }
        }

        @Override
        public java.io.OutputStream getOutputStream() {
            return stdin;
        }

        @Override
        public java.io.InputStream getInputStream() {
            return stdout;
        }

        @Override
        public java.io.InputStream getErrorStream() {
            return java.io.InputStream.nullInputStream();
        }

        @Override
        public int waitFor() {
            return 0;
        }

        @Override
        public boolean waitFor(long timeout, java.util.concurrent.TimeUnit unit) {
            return !alive;
        }

        @Override
        public int exitValue() {
            if (alive) {
                throw new IllegalThreadStateException();
            }
            return 2;
        }

        @Override
        public boolean isAlive() {
            return alive;
        }

        @Override
        public long pid() {
            return 4242;
        }

        @Override
        public void destroy() {
            die();
        }

        @Override
        public Process destroyForcibly() {
            die();
            return this;
        }
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
            String[] lines = stdin.split("\n");
            for (int i = 0; i < lines.length; i++) {
                String[] t = lines[i].split(" ");
                boolean ok = t[1].equals("add") ? addresses.add(t[2]) : addresses.remove(t[2]);
                if (!ok) {
                    err.append(t[1].equals("add") ? "Error: ipv4: Address already assigned.\n" : "Error: ipv4: Address not found.\n")
                            .append("Command failed -:").append(i + 1).append('\n');
                }
            }
            return new Result(err.length() == 0 ? 0 : 1, "", err.toString());
        }
        if (argv.contains("link")) {
            if (argv.contains("add")) {
                device = true;
            }
            return new Result(device || !argv.contains("show") ? 0 : 1, "", device ? "" : "Device \"portolan-ipvs\" does not exist.\n");
        }
        StringBuilder b = new StringBuilder();
        addresses.forEach(a -> b.append(b.length() == 0 ? "" : ",").append("{\"family\":\"inet\",\"local\":\"")
                .append(a, 0, a.indexOf('/')).append("\",\"prefixlen\":32,\"scope\":\"global\",\"label\":\"portolan-ipvs\"}"));
        return new Result(0, "[{\"ifindex\":8,\"ifname\":\"portolan-ipvs\",\"addr_info\":[" + b + "]}]", "");
    }
}
