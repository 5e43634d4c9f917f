package io.portolan.agent.ipvs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The IPVS data plane end to end on a kernel that has IPVS: boots the test VM once
 * (deploy/vm/run-in-vm.sh, TCG) and runs {@link IpvsVmScenarios} in it with this module's test
 * classpath, one guest JVM for two scenarios. {@link IpvsScenario}: the real agent with
 * --dataplane ipvs, a client and three backends in namespaces; VIP from the client and the node,
 * distribution, graceful removal and re-adding, a published port, a refused service next to
 * working ones, a connection surviving kill -9 and restart of the agent, and --cleanup.
 * {@link IpvsMeshScenario}: fleet scenario 2 (the routing mesh) across {@value #MESH_HOSTS} hosts
 * of the {@code Fleet} harness, each running the launcher with --dataplane ipvs.
 */
@Execution(ExecutionMode.CONCURRENT) // runs beside the other classes (junit-platform.properties): it only waits for QEMU
class IpvsVmTest {
    static final int MESH_HOSTS = 2;
    static final int WAIT_MINUTES = 20;

    @Test
    void scenarios_inVm_pass() throws Exception {
        Path script = Path.of("..", "deploy", "vm", "run-in-vm.sh").toAbsolutePath().normalize();
        Path out = Files.createTempFile("ipvs-vm", ".log");
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        Path launcher = guestPath(Path.of("..", "deploy", "bin", "portolan").toAbsolutePath().normalize());
        ProcessBuilder pb = new ProcessBuilder(List.of(script.toString(), java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dportolan.launcher=" + launcher, "-cp", guestClasspath(), IpvsVmScenarios.class.getName(), String.valueOf(MESH_HOSTS)))
                .redirectErrorStream(true).redirectOutput(out.toFile());
        // two scenarios under TCG on a loaded host: the VM's own limit just under this test's
        pb.environment().putIfAbsent("PORTOLAN_VM_TIMEOUT", String.valueOf(WAIT_MINUTES * 60 - 30));
        Process p = pb.start();
        boolean done = p.waitFor(WAIT_MINUTES, TimeUnit.MINUTES);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String log = Files.readString(out, StandardCharsets.UTF_8);
        System.out.println(log);
        assertTrue(done, "the VM run did not finish within " + WAIT_MINUTES + " minutes");
        assertTrue(log.contains("IPVS SCENARIO PASSED"), "the one-node scenario failed; output above");
        assertTrue(log.contains("IPVS MESH SCENARIO PASSED"), "the routing-mesh scenario failed; output above");
        assertEquals(0, p.exitValue(), "run-in-vm exit code");
    }

    /**
     * The guest sees the host's root read-only but gets fresh /tmp and /run: a checkout under
     * either (a CI clone in /tmp, say) would be invisible in the VM. Such classpath entries are
     * copied to ~/.cache/portolan-vm/cp-* (removed when the JVM exits) and named from there.
     */
    static String guestClasspath() throws java.io.IOException {
        List<String> out = new java.util.ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            out.add(guestPath(Path.of(entry).toAbsolutePath().normalize()).toString());
        }
        return String.join(File.pathSeparator, out);
    }

    private static Path stage;
    private static int staged;

    /** {@code p} as the guest sees it: itself, or a copy under ~/.cache/portolan-vm/cp-* when it lies under /tmp, /run or /dev. */
    static synchronized Path guestPath(Path p) throws java.io.IOException {
        if (!(p.startsWith("/tmp") || p.startsWith("/run") || p.startsWith("/dev"))) {
            return p;
        }
        if (stage == null) {
            Path base = Files.createDirectories(Path.of(System.getProperty("user.home"), ".cache", "portolan-vm"));
            stage = Files.createTempDirectory(base, "cp-");
            Path toDelete = stage;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(toDelete)));
        }
        Path dst = stage.resolve((staged++) + "-" + p.getFileName());
        copyTree(p, dst);
        return dst;
    }

    static void copyTree(Path from, Path to) throws java.io.IOException {
        if (!Files.exists(from)) {
            return;
        }
        try (var walk = Files.walk(from)) {
            for (Path f : (Iterable<Path>) walk::iterator) {
                Path t = to.resolve(from.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(t);
                } else {
                    Files.createDirectories(t.getParent());
                    Files.copy(f, t, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }

    static void deleteTree(Path root) {
        try (var walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (java.io.IOException ignored) {
            // best effort
        }
    }
}
