package io.portolan.agent.fleet;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The drills' load: src/test/resources/io/portolan/agent/fleet/load_client.py run in a container
 * (a namespace of the fleet), in the background. Every request resolves the service name through
 * the container's resolv.conf (its host agent's DNS), opens a new connection and sends one GET with
 * a timeout; optionally one connection established at the start carries a GET every interval across
 * the drill. Bounded in count and time (the script's own bounds; {@link #await} waits for it a
 * little longer, then kills it). {@link Result} parses its lines: successes per answer, failures
 * with their kind and time.
 */
final class LoadClient {
    final Fleet.Netns where;
    final Process process;
    final Path log;
    final int count;
    final double durationSeconds;
    /** When it was started (System.currentTimeMillis()). */
    final long startedAtMillis;

    private LoadClient(Fleet.Netns where, Process process, Path log, int count, double durationSeconds, long startedAtMillis) {
        this.where = where;
        this.process = process;
        this.log = log;
        this.count = count;
        this.durationSeconds = durationSeconds;
        this.startedAtMillis = startedAtMillis;
    }

    /** What to run. */
    static final class Spec {
        final List<String> urls = new ArrayList<>();
        int count = 100;
        Duration duration = Duration.ofSeconds(30);
        Duration interval = Duration.ofMillis(50);
        int workers = 4;
        Duration timeout = Duration.ofSeconds(2);
        String established;

        Spec url(String... u) {
            urls.addAll(List.of(u));
            return this;
        }

        /** {@code n} requests, one every {@code every}, within {@code max} at most. */
        Spec requests(int n, Duration every, Duration max) {
            this.count = n;
            this.interval = every;
            this.duration = max;
            return this;
        }

        Spec workers(int w) {
            this.workers = w;
            return this;
        }

        Spec timeout(Duration t) {
            this.timeout = t;
            return this;
        }

        /** One connection to {@code url} kept open and used every interval. */
        Spec established(String url) {
            this.established = url;
            return this;
        }
    }

    static Spec spec() {
        return new Spec();
    }

    static LoadClient start(Fleet.Netns where, String name, Spec s) {
        if (s.urls.isEmpty()) {
            throw new IllegalArgumentException("no URL");
        }
        Path log = where.fleet.dir().resolve("load-" + name + ".log");
        List<String> argv = new ArrayList<>(List.of("python3", script().toString(),
                "--count", String.valueOf(s.count), "--duration", seconds(s.duration),
                "--interval", seconds(s.interval), "--workers", String.valueOf(s.workers), "--timeout", seconds(s.timeout)));
        for (String u : s.urls) {
            argv.add("--url");
            argv.add(u);
        }
        if (s.established != null) {
            argv.add("--established");
            argv.add(s.established);
        }
        long now = System.currentTimeMillis();
        Process p = where.spawn(log, argv.toArray(new String[0]));
        return new LoadClient(where, p, log, s.count, s.duration.toMillis() / 1000.0, now);
    }

    static String seconds(Duration d) {
        return String.valueOf(d.toMillis() / 1000.0);
    }

    static Path script() {
        try {
            return Path.of(LoadClient.class.getResource("load_client.py").toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("test resource io/portolan/agent/fleet/load_client.py", e);
        }
    }

    /** Waits for the client to finish (its duration plus 40 s at most, then it is killed) and parses its output. */
    Result await() {
        long bound = (long) (durationSeconds * 1000) + 40_000;
        long left = Math.max(1_000, startedAtMillis + bound - System.currentTimeMillis());
        try {
            if (!process.waitFor(left, TimeUnit.MILLISECONDS)) {
                Sh.kill(process);
                throw new AssertionError("load client in " + where.ns + " did not finish within " + bound + " ms: " + Sh.tail(log, 3000));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            Sh.kill(process);
            throw new IllegalStateException("interrupted", e);
        }
        return Result.parse(Sh.tail(log, 50_000_000), count, where.ns);
    }

    /**
     * One failed request: its number, when it started (ms since the client started, and epoch ms), its URL and kind, and
     * its source port ("-" when it had none).
     */
    record Failure(int index, long atMs, long epochMs, String url, String kind, String address, long dnsMs, long totalMs, String detail,
                   String localPort) {
        @Override
        public String toString() {
            return "#" + index + " at " + atMs + " ms " + url + " " + kind + (address.equals("-") ? "" : " (" + address
                    + (localPort.equals("-") ? "" : " from port " + localPort) + ")")
                    + " after " + totalMs + " ms" + (detail.equals("-") ? "" : ": " + detail);
        }
    }

    /** One answered request: when it started (ms since the client started), what answered, where it connected, its source port. */
    record Ok(long atMs, long epochMs, String url, String answer, String address, String localPort) {
    }

    /** What a run gave. */
    record Result(String where, int count, long startEpochMs, int sent, int ok, List<Failure> failures, List<Ok> oks, Map<String, Integer> answers,
                  long maxDnsMs, int slowLookups, long maxTotalMs, int establishedOk, List<Failure> establishedFailures, int establishedConnects,
                  long lastAtMs, boolean done) {

        int failed() {
            return failures.size();
        }

        /** Failures counted by kind. */
        Map<String, Integer> kinds() {
            Map<String, Integer> k = new TreeMap<>();
            failures.forEach(f -> k.merge(f.kind(), 1, Integer::sum));
            return k;
        }

        /** Failures whose kind is not a DNS look-up's. */
        List<Failure> nonDns() {
            return failures.stream().filter(f -> !f.kind().startsWith("dns:")).toList();
        }

        /** The answers of requests that started at or after {@code fromEpochMs}, counted. */
        Map<String, Integer> answersFrom(long fromEpochMs) {
            Map<String, Integer> m = new TreeMap<>();
            oks.stream().filter(o -> o.epochMs() >= fromEpochMs).forEach(o -> m.merge(o.answer(), 1, Integer::sum));
            return m;
        }

        /** Failures that started in [fromEpochMs, toEpochMs). */
        List<Failure> between(long fromEpochMs, long toEpochMs) {
            return failures.stream().filter(f -> f.epochMs() >= fromEpochMs && f.epochMs() < toEpochMs).toList();
        }

        String summary() {
            StringBuilder b = new StringBuilder();
            b.append(where).append(": ").append(sent).append('/').append(count).append(" sent, ").append(ok).append(" ok, ")
                    .append(failed()).append(" failed");
            if (!failures.isEmpty()) {
                b.append(' ').append(kinds());
                long first = failures.get(0).atMs();
                long last = failures.get(failures.size() - 1).atMs();
                b.append(" between ").append(first).append(" and ").append(last).append(" ms");
            }
            b.append("; answers ").append(answers).append("; longest look-up ").append(maxDnsMs).append(" ms (")
                    .append(slowLookups).append(" took 1 s or more), longest request ")
                    .append(maxTotalMs).append(" ms");
            if (establishedConnects > 0 || establishedOk > 0 || !establishedFailures.isEmpty()) {
                b.append("; established connection: ").append(establishedOk).append(" ok, ").append(establishedFailures.size())
                        .append(" failed, ").append(establishedConnects).append(" connect(s)");
            }
            if (!done) {
                b.append(" (no 'done' line)");
            }
            return b.toString();
        }

        /**
         * Source ports that carried two connections to one address and port at most {@code withinMs} apart (a new connection
         * on the 5-tuple of an earlier one, which conntrack may still hold), as "ADDRESS:PORT from PORT: AT_MS, AT_MS" (ms
         * since the client started).
         */
        List<String> portReuses(long withinMs) {
            Map<String, List<Long>> at = new TreeMap<>();
            oks.forEach(o -> at.computeIfAbsent(key(o.url(), o.address(), o.localPort()), k -> new ArrayList<>()).add(o.atMs()));
            failures.forEach(f -> at.computeIfAbsent(key(f.url(), f.address(), f.localPort()), k -> new ArrayList<>()).add(f.atMs()));
            List<String> l = new ArrayList<>();
            at.forEach((k, times) -> {
                if (k.endsWith(" -")) {
                    return;
                }
                times.sort(null);
                for (int i = 1; i < times.size(); i++) {
                    if (times.get(i) - times.get(i - 1) <= withinMs) {
                        l.add(k + ": " + times.get(i - 1) + ", " + times.get(i));
                    }
                }
            });
            return l;
        }

        private static String key(String url, String address, String localPort) {
            String port = url.replaceFirst("^[a-z]+://[^:/]+:?", "").replaceFirst("/.*", "");
            return address + ":" + (port.isEmpty() ? "80" : port) + " from " + localPort;
        }

        /** The first few failures, for messages. */
        String firstFailures(int n) {
            List<Failure> all = new ArrayList<>(failures);
            all.addAll(establishedFailures);
            return all.stream().limit(n).map(Failure::toString).toList().toString();
        }

        static Result parse(String text, int count, String where) {
            long start = 0;
            int sent = 0;
            int ok = 0;
            int estOk = 0;
            int estConnects = 0;
            long maxDns = 0;
            int slow = 0;
            long maxTotal = 0;
            long lastAt = 0;
            boolean done = false;
            List<Failure> failures = new ArrayList<>();
            List<Failure> estFailures = new ArrayList<>();
            List<Ok> oks = new ArrayList<>();
            Map<String, Integer> answers = new TreeMap<>();
            for (String line : text.split("\n")) {
                String[] f = line.trim().split(" ");
                switch (f[0]) {
                    case "start" -> start = Long.parseLong(f[1]);
                    case "done" -> done = true;
                    case "est-connect" -> estConnects++;
                    case "req" -> {
                        // req I T URL ok ANSWER ADDRESS DNS TOTAL PORT | req I T URL fail KIND ADDRESS DNS TOTAL DETAIL PORT
                        sent++;
                        int i = Integer.parseInt(f[1]);
                        long at = Long.parseLong(f[2]);
                        lastAt = Math.max(lastAt, at);
                        long dns = Long.parseLong(f[7]);
                        long total = Long.parseLong(f[8]);
                        maxDns = Math.max(maxDns, dns);
                        slow += dns >= 1000 ? 1 : 0;
                        maxTotal = Math.max(maxTotal, total);
                        if (f[4].equals("ok")) {
                            ok++;
                            answers.merge(f[5], 1, Integer::sum);
                            oks.add(new Ok(at, start + at, f[3], f[5], f[6], f.length > 9 ? f[9] : "-"));
                        } else {
                            failures.add(new Failure(i, at, start + at, f[3], f[5], f[6], dns, total, f.length > 9 ? f[9] : "-",
                                    f.length > 10 ? f[10] : "-"));
                        }
                    }
                    case "est" -> {
                        // est I T ok ANSWER LOCALPORT TOTAL | est I T fail KIND LOCALPORT TOTAL DETAIL
                        if (f[3].equals("ok")) {
                            estOk++;
                        } else {
                            long at = Long.parseLong(f[2]);
                            estFailures.add(new Failure(Integer.parseInt(f[1]), at, start + at, "established", f[4], "-", 0,
                                    Long.parseLong(f[6]), f.length > 7 ? f[7] : "-", f[5]));
                        }
                    }
                    default -> { } // python's own messages, if any, are in the log
                }
            }
            failures.sort(java.util.Comparator.comparingLong(Failure::atMs));
            return new Result(where, count, start, sent, ok, failures, oks, answers, maxDns, slow, maxTotal, estOk, estFailures, estConnects,
                    lastAt, done);
        }
    }
}
