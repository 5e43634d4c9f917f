package io.portolan.agent.firstrun;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/** A fresh network namespace of this test's (unique name, lo up), and commands run in it; {@link #close} removes it. */
final class Netns implements AutoCloseable {
    private static int seq;
    final String name;
    private final List<Process> started = new ArrayList<>();

    Netns(String prefix) throws Exception {
        synchronized (Netns.class) {
            seq++;
        }
        this.name = prefix + "-" + ProcessHandle.current().pid() % 100_000 + "-" + seq;
        must("ip", "netns", "add", name);
        must("ip", "-n", name, "link", "set", "lo", "up");
    }

    record Out(int code, String text) {
    }

    /** Runs argv on the host (bounded: 60 s); its exit code and output. */
    static Out run(List<String> argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", argv) + ": no exit in 60 s");
        }
        return new Out(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    static String must(String... argv) throws IOException, InterruptedException {
        Out o = run(List.of(argv));
        if (o.code != 0) {
            fail(String.join(" ", argv) + " exited " + o.code + ": " + o.text);
        }
        return o.text;
    }

    /** Runs argv inside the namespace. */
    Out in(String... argv) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", name));
        cmd.addAll(List.of(argv));
        return run(cmd);
    }

    /** Starts argv inside the namespace, output to {@code log}; stopped by {@link #close}. */
    Process start(List<String> argv, Path log, java.util.Map<String, String> env) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", name));
        cmd.addAll(argv);
        ProcessBuilder b = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        b.environment().putAll(env);
        Process p = b.start();
        started.add(p);
        return p;
    }

    /** Polls {@code log} until it holds {@code text} (bounded by {@code millis}); its content then. */
    static String awaitLog(Path log, String text, long millis, Process p) throws Exception {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        String s = "";
        for (int i = 0; i < 100_000 && System.nanoTime() < deadline; i++) {
            s = Files.exists(log) ? Files.readString(log) : "";
            if (s.contains(text)) {
                return s;
            }
            if (p != null && !p.isAlive()) {
                fail("exited with " + p.exitValue() + " before logging '" + text + "':\n" + s);
            }
            Thread.sleep(100);
        }
        fail("no '" + text + "' within " + millis + " ms:\n" + s);
        return s;
    }

    @Override
    public void close() throws Exception {
        for (Process p : started) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        // whatever still runs in the namespace was started by this test (the namespace is its own)
        for (String pid : run(List.of("ip", "netns", "pids", name)).text().split("\\s+")) {
            if (!pid.isBlank()) {
                ProcessHandle.of(Long.parseLong(pid.strip())).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        run(List.of("ip", "netns", "del", name));
    }
}
