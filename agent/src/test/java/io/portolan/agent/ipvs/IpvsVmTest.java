package io.portolan.agent.ipvs;

import org.junit.jupiter.api.Test;

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
 * (deploy/vm/run-in-vm.sh, TCG) and runs {@link IpvsScenario} in it with this module's test
 * classpath: the real agent with --dataplane ipvs, a client and three backends in namespaces;
 * VIP from the client and the node, distribution, graceful removal and re-adding, a published
 * port, a refused service next to working ones, a connection surviving kill -9 and restart of the
 * agent, and --cleanup.
 */
class IpvsVmTest {
    @Test
    void scenario_inVm_passes() throws Exception {
        Path script = Path.of("..", "deploy", "vm", "run-in-vm.sh").toAbsolutePath().normalize();
        Path out = Files.createTempFile("ipvs-vm", ".log");
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        Process p = new ProcessBuilder(List.of(script.toString(), java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), IpvsScenario.class.getName()))
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        boolean done = p.waitFor(12, TimeUnit.MINUTES);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        String log = Files.readString(out, StandardCharsets.UTF_8);
        System.out.println(log);
        assertTrue(done, "the VM run did not finish within 12 minutes");
        assertTrue(log.contains("IPVS SCENARIO PASSED"), "scenario failed; output above");
        assertEquals(0, p.exitValue(), "run-in-vm exit code");
    }
}
