package io.portolan.agent.firstrun;

import io.portolan.agent.fleet.Fleet;
import io.portolan.agent.testing.EtcdServer;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The memory the launcher ({@code deploy/bin/portolan}) gives a real agent, read back from the
 * running JVM ({@code jcmd PID VM.flags}): the Serial collector and a 192m heap cap by default,
 * {@code PORTOLAN_HEAP_MAX} raising the cap, an operator's own {@code PORTOLAN_JAVA_OPTS} collector and
 * cap replacing the defaults (not added beside them: two collectors make java refuse to start), and a
 * bad {@code PORTOLAN_HEAP_MAX} refused with its value named. The agent runs with the embedded store
 * in a temporary state directory, DNS and the admin API on free loopback ports, no data plane.
 */
class LauncherMemoryTest {
    /** Starts an agent through the launcher with {@code env}, returns the JVM's flags once it is ready. */
    static String flagsOfAgent(Map<String, String> env) throws Exception {
        Path root = QuickStartTest.repoRoot();
        Path dir = Files.createTempDirectory("launcher-memory");
        int admin = EtcdServer.freePort();
        ProcessBuilder pb = new ProcessBuilder(root.resolve("deploy/bin/portolan").toString(), "agent",
                "--state-dir", dir.resolve("state").toString(), "--dataplane", "none", "--log-level", "warn",
                "--dns-listen", "127.0.0.1:" + EtcdServer.freePort(), "--admin-listen", "127.0.0.1:" + admin)
                .redirectErrorStream(true).redirectOutput(dir.resolve("agent.log").toFile());
        pb.environment().put("PORTOLAN_JAR", Fleet.findOrMakeJar(dir).toString());
        pb.environment().remove("PORTOLAN_JAVA_OPTS");
        pb.environment().remove("PORTOLAN_HEAP_MAX");
        pb.environment().putAll(env);
        Process p = pb.start();
        try {
            HttpClient http = HttpClient.newHttpClient();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                assertTrue(p.isAlive(), () -> "agent exited: " + read(dir.resolve("agent.log")));
                try {
                    if (http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + admin + "/readyz")).build(),
                            HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                        break;
                    }
                } catch (java.io.IOException notYet) {
                    // still starting
                }
                assertTrue(System.nanoTime() < deadline, () -> "agent not ready in 60 s: " + read(dir.resolve("agent.log")));
                Thread.sleep(200);
            }
            // the launcher execs java: the process it started is the JVM
            Process jcmd = new ProcessBuilder("jcmd", Long.toString(p.pid()), "VM.flags").redirectErrorStream(true).start();
            String flags = new String(jcmd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(jcmd.waitFor(30, TimeUnit.SECONDS));
            return flags;
        } finally {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Test
    void defaults_serialCollector_192mCap_raisedByPortolanHeapMax() throws Exception {
        String flags = flagsOfAgent(Map.of());
        assertTrue(flags.contains("-XX:+UseSerialGC"), flags);
        assertTrue(flags.contains("-XX:MaxHeapSize=" + 192L * 1024 * 1024), flags);
        assertTrue(flags.contains("-XX:+ExitOnOutOfMemoryError"), flags);

        String raised = flagsOfAgent(Map.of("PORTOLAN_HEAP_MAX", "256m"));
        assertTrue(raised.contains("-XX:MaxHeapSize=" + 256L * 1024 * 1024), raised);
    }

    @Test
    void operatorsOwnCollectorAndCap_replaceTheDefaults() throws Exception {
        String flags = flagsOfAgent(Map.of("PORTOLAN_JAVA_OPTS", "-XX:+UseG1GC -Xmx300m"));
        assertTrue(flags.contains("-XX:+UseG1GC"), flags);
        assertFalse(flags.contains("-XX:+UseSerialGC"), flags);
        assertTrue(flags.contains("-XX:MaxHeapSize=" + 300L * 1024 * 1024), flags);
    }

    @Test
    void badHeapMax_refusedNamingTheValue() throws Exception {
        Path root = QuickStartTest.repoRoot();
        Path jar = Fleet.findOrMakeJar(Files.createTempDirectory("launcher-memory"));
        for (String bad : List.of("lots", "192", "-1m", "1.5g")) {
            ProcessBuilder pb = new ProcessBuilder(root.resolve("deploy/bin/portolan").toString(), "agent", "--help")
                    .redirectErrorStream(true);
            pb.environment().put("PORTOLAN_JAR", jar.toString());
            pb.environment().remove("PORTOLAN_JAVA_OPTS");
            pb.environment().put("PORTOLAN_HEAP_MAX", bad);
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(2, p.exitValue(), out);
            assertTrue(out.contains("PORTOLAN_HEAP_MAX=" + bad + ": expected a size with its unit"), out);
        }
    }
}
