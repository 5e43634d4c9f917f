package io.portolan.lb.userspace;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The source-port limit, for real: in a fresh network namespace with ip_local_port_range narrowed
 * to 1,000 ports, one source address stops at about 1,000 concurrent upstream connections to one
 * instance address and port; two source addresses carry about 2,000.
 */
class PortLimitTest {
    private final String ns = "portolan-lb-" + ProcessHandle.current().pid();

    private static String run(List<String> argv, int timeoutSeconds) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(argv + " timed out");
        }
        String s = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), argv + ": " + s);
        return s;
    }

    @BeforeEach
    void namespace() throws Exception {
        run(List.of("ip", "netns", "add", ns), 10);
        run(List.of("ip", "-n", ns, "link", "set", "lo", "up"), 10);
        run(List.of("ip", "netns", "exec", ns, "sysctl", "-w", "net.ipv4.ip_local_port_range=40000 40999"), 10);
    }

    @AfterEach
    void removeNamespace() throws Exception {
        run(List.of("ip", "netns", "del", ns), 10);
    }

    private int probe(String sources) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> argv = new ArrayList<>(List.of("ip", "netns", "exec", ns, java, "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), PortLimitProbe.class.getName(), sources, "2500"));
        String out = run(argv, 120);
        for (String line : out.split("\n")) {
            if (line.startsWith("ACCEPTED ")) {
                System.out.println("source addresses " + sources + ": " + line.strip());
                return Integer.parseInt(line.substring(9).strip());
            }
        }
        throw new AssertionError("no ACCEPTED line in: " + out);
    }

    @Test
    void sourcePool_oneAddressNarrowPortRange_stopsAtAbout1000Connections() throws Exception {
        int n = probe("127.0.0.2");
        assertTrue(n >= 900 && n <= 1000, "one source address carried " + n);
    }

    @Test
    void sourcePool_twoAddressesNarrowPortRange_carryAbout2000Connections() throws Exception {
        int n = probe("127.0.0.2,127.0.0.3");
        assertTrue(n >= 1800 && n <= 2000, "two source addresses carried " + n);
    }
}
