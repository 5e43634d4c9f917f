package io.portolan.lb.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Runs host commands: always an argv array, never a shell, so nothing from the registry is ever
 * parsed by one. The real one is {@link #local()} (or {@link #inNetns} for tests and benchmarks);
 * unit tests give a fake that answers like the tool would.
 */
public interface Exec {
    /** What a command said: its exit code, standard output and standard error. */
    record Result(int code, String out, String err) {
        /** Exit 0 and nothing on stderr. */
        public boolean clean() {
            return code == 0 && err.isBlank();
        }

        /** Stderr, or stdout when stderr is empty, on one line (for messages). */
        public String errOrOut() {
            String e = err.isBlank() ? out : err;
            return e.strip().replace('\n', ';');
        }
    }

    /**
     * Runs {@code argv} with {@code stdin} (null: none) and waits at most {@code timeout}. Throws when
     * the command cannot be started or does not finish in time; a non-zero exit is a {@link Result}.
     */
    Result run(List<String> argv, String stdin, Duration timeout) throws IOException;

    /** Runs {@code argv} and throws, naming the command and what it said, unless it exits 0. */
    default Result check(List<String> argv, String stdin, Duration timeout) throws IOException {
        Result r = run(argv, stdin, timeout);
        if (r.code() != 0) {
            throw new IOException(String.join(" ", argv) + " failed (exit " + r.code() + "): "
                    + firstLines(r.err().isBlank() ? r.out() : r.err(), 3));
        }
        return r;
    }

    /** Starts a long-lived process (stderr merged into stdout), for the tools' interactive sessions. */
    default Process start(List<String> argv) throws IOException {
        throw new IOException("this Exec cannot start " + argv);
    }

    /** The machine's own commands. */
    static Exec local() {
        return LocalExec.ROOT;
    }

    /** Commands run inside network namespace {@code ns} ({@code ip netns exec NS ...}). */
    static Exec inNetns(String ns) {
        return new LocalExec(List.of("ip", "netns", "exec", ns));
    }

    /** Whether {@code name} is an executable on PATH. */
    static boolean onPath(String name) {
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
                return true;
            }
        }
        return false;
    }

    /** The first {@code n} lines of {@code s}, joined by " | ", each cut at 300 characters. */
    static String firstLines(String s, int n) {
        String[] lines = s.strip().split("\n");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < Math.min(n, lines.length); i++) {
            String l = lines[i].strip();
            b.append(i == 0 ? "" : " | ").append(l.length() > 300 ? l.substring(0, 300) + "..." : l);
        }
        return b.toString();
    }
}
