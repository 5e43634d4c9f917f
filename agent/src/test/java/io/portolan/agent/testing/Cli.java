package io.portolan.agent.testing;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the real `portolan` CLI as a separate JVM on the test classpath (what the launcher runs). */
public final class Cli {
    private Cli() {
    }

    public static ProcessBuilder builder(String... args) {
        List<String> cmd = new ArrayList<>(List.of(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java",
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), "io.portolan.agent.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd);
    }

    /** A running `portolan register ...`; {@link #awaitRegistered} reads its "registered SERVICE/ID" line. */
    public static final class Registrant implements AutoCloseable {
        public final Process process;
        private final BufferedReader out;

        public Registrant(String... args) throws IOException {
            process = builder(args).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        }

        /** Returns the instance id once the CLI says it is registered. */
        public String awaitRegistered() throws IOException {
            String line = out.readLine();
            if (line == null || !line.startsWith("registered ")) {
                throw new IOException("register did not report success: " + line);
            }
            String ref = line.split(" ")[1];
            return ref.substring(ref.indexOf('/') + 1);
        }

        @Override
        public void close() throws InterruptedException {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** Runs a CLI command to completion; returns exit code and combined output. */
    public static Result run(String... args) throws IOException, InterruptedException {
        Process p = builder(args).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("portolan " + String.join(" ", args) + " did not finish");
        }
        return new Result(p.exitValue(), out);
    }

    public record Result(int code, String output) {
    }
}
