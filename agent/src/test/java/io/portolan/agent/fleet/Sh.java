package io.portolan.agent.fleet;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs commands for the fleet harness: argv arrays only (never a shell), every run bounded in time,
 * stdout and stderr merged. A command that does not finish in time is killed with its descendants.
 */
public final class Sh {
    private Sh() {
    }

    /** What a finished command gave: its exit code and its merged output. */
    public record Result(List<String> argv, int code, String out) {
        public boolean ok() {
            return code == 0;
        }

        /** The output's non-blank lines, trimmed. */
        public List<String> lines() {
            List<String> l = new ArrayList<>();
            for (String s : out.split("\n")) {
                if (!s.isBlank()) {
                    l.add(s.trim());
                }
            }
            return l;
        }

        @Override
        public String toString() {
            return String.join(" ", argv) + " -> exit " + code + (out.isBlank() ? "" : ": " + out.strip());
        }
    }

    /** Runs {@code argv} to completion (at most {@code timeout}); a timeout gives exit code -1. */
    public static Result run(List<String> argv, Duration timeout, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        if (env != null) {
            pb.environment().putAll(env);
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return new Result(argv, 127, e.getMessage());
        }
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                return new Result(argv, -1, "(no exit within " + timeout.toMillis() + " ms) " + text(out));
            }
            return new Result(argv, p.exitValue(), text(out));
        } catch (InterruptedException e) {
            kill(p);
            Thread.currentThread().interrupt();
            return new Result(argv, -1, "(interrupted)");
        }
    }

    public static Result run(List<String> argv, Duration timeout) {
        return run(argv, timeout, null);
    }

    /** {@link #run} with a 30 s bound. */
    public static Result run(String... argv) {
        return run(List.of(argv), Duration.ofSeconds(30));
    }

    /** Runs {@code argv} and fails (IllegalStateException) unless it exits 0; returns its output. */
    public static String check(String... argv) {
        Result r = run(argv);
        if (!r.ok()) {
            throw new IllegalStateException(r.toString());
        }
        return r.out();
    }

    /** Runs {@code argv} with {@code stdin} as its input, bounded; fails unless it exits 0. */
    public static String checkWithInput(List<String> argv, String stdin) {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
        try {
            Process p = pb.start();
            CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
            try (var in = p.getOutputStream()) {
                in.write(stdin.getBytes(StandardCharsets.UTF_8));
            }
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                kill(p);
                throw new IllegalStateException(String.join(" ", argv) + ": no exit within 30 s");
            }
            String text = text(out);
            if (p.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", argv) + " -> exit " + p.exitValue() + ": " + text + "\ninput:\n" + stdin);
            }
            return text;
        } catch (IOException e) {
            throw new IllegalStateException(String.join(" ", argv) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Starts {@code argv} in the background, stdout and stderr appended to {@code log}. */
    public static Process spawn(List<String> argv, Path log, Map<String, String> env) {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        if (env != null) {
            pb.environment().putAll(env);
        }
        try {
            return pb.start();
        } catch (IOException e) {
            throw new IllegalStateException(String.join(" ", argv) + ": " + e.getMessage(), e);
        }
    }

    /** SIGKILL to the process and its descendants; waits up to 10 s for it. */
    public static void kill(Process p) {
        if (p == null) {
            return;
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** SIGTERM, up to {@code grace} for it to exit, then SIGKILL. Returns the exit code, or -1 if it had to be killed. */
    public static int stop(Process p, Duration grace) {
        if (p == null) {
            return -1;
        }
        if (!p.isAlive()) {
            return p.exitValue();
        }
        p.destroy();
        try {
            if (p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                return p.exitValue();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        kill(p);
        return -1;
    }

    /** The last {@code max} characters of a file, or a note that it does not exist. */
    public static String tail(Path file, int max) {
        try {
            if (!Files.exists(file)) {
                return "(no " + file + ")";
            }
            String s = Files.readString(file, StandardCharsets.UTF_8);
            return s.length() > max ? "..." + s.substring(s.length() - max) : s;
        } catch (IOException e) {
            return "(" + file + ": " + e.getMessage() + ")";
        }
    }

    private static byte[] readAll(InputStream in) {
        try {
            return in.readAllBytes();
        } catch (IOException e) {
            return ("(" + e.getMessage() + ")").getBytes(StandardCharsets.UTF_8);
        }
    }

    private static String text(CompletableFuture<byte[]> out) {
        try {
            return new String(out.get(5, TimeUnit.SECONDS), StandardCharsets.UTF_8);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "(interrupted)";
        } catch (ExecutionException | TimeoutException e) {
            return "(output not read: " + e + ")";
        }
    }
}
