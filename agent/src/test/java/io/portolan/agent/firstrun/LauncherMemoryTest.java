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
        return agent(env).flags();
    }

    /** What a running agent's JVM showed: its flags, its memory maps, and its log once it stopped. */
    record Seen(String flags, String maps, String log) {
    }

    /** Starts an agent through the launcher with {@code env}; once it is ready, reads its flags and maps, and stops it (SIGTERM). */
    static Seen agent(Map<String, String> env) throws Exception {
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
        pb.environment().remove("PORTOLAN_CDS_DIR");
        pb.environment().remove("CACHE_DIRECTORY");
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
            String flags = "";
            for (int attempt = 0; attempt < 20 && !flags.contains("-XX:"); attempt++) {
                if (attempt > 0) {
                    Thread.sleep(500); // a JVM just started may answer an attach with nothing yet
                }
                Process jcmd = new ProcessBuilder("jcmd", Long.toString(p.pid()), "VM.flags").redirectErrorStream(true).start();
                flags = new String(jcmd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(jcmd.waitFor(30, TimeUnit.SECONDS));
            }
            String maps = Files.readString(Path.of("/proc/" + p.pid() + "/maps"));
            p.destroy();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the agent stops on SIGTERM");
            return new Seen(flags, maps, read(dir.resolve("agent.log")));
        } finally {
            if (p.isAlive()) {
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

    /**
     * Class data sharing: with a cache directory (the unit's {@code CacheDirectory}, here
     * {@code PORTOLAN_CDS_DIR}) the first agent archives its classes when it stops, the next maps the
     * archive; neither logs a word of it; without one (a run by hand) no archive is asked for.
     */
    @Test
    void cacheDirectory_classesArchivedAtStop_mappedByTheNextStart() throws Exception {
        Path cache = Files.createTempDirectory("launcher-cds");
        Files.writeString(cache.resolve("portolan-17.0.0-1-1.jsa"), "an old jar's archive");
        // one jar for both starts: the archive is the jar's (its size and time are in the archive's name)
        Map<String, String> env = Map.of("PORTOLAN_CDS_DIR", cache.toString(),
                "PORTOLAN_JAR", Fleet.findOrMakeJar(Files.createTempDirectory("launcher-cds-jar")).toString());
        Seen first = agent(env);
        assertTrue(first.flags().contains("-XX:ArchiveClassesAtExit=" + cache), first.flags());
        List<Path> archives;
        try (var files = Files.list(cache)) {
            archives = files.toList();
        }
        assertEquals(1, archives.size(), "one archive, the old jar's removed: " + archives);
        Path archive = archives.get(0);
        assertTrue(archive.getFileName().toString().matches("portolan-[0-9.]+-[0-9]+-[0-9]+\\.jsa"), archive.toString());
        assertTrue(Files.size(archive) > 1_000_000, "written at the stop: " + Files.size(archive) + " bytes");

        Seen next = agent(env);
        assertTrue(next.flags().contains("-XX:SharedArchiveFile=" + archive), next.flags());
        assertTrue(next.maps().contains(archive.toString()), "the archive is mapped into the JVM");
        for (Seen s : List.of(first, next)) {
            assertFalse(s.log().contains("[cds"), "nothing about class data sharing in the log: " + s.log());
        }

        Seen byHand = agent(Map.of());
        assertFalse(byHand.flags().contains("ArchiveClassesAtExit") || byHand.flags().contains("SharedArchiveFile"), byHand.flags());
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
