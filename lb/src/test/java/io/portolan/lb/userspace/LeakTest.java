package io.portolan.lb.userspace;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 100,000 proxied connections with Netty's paranoid leak detection, in a JVM of their own (the
 * leak detector is chosen when the buffer classes load): no leaked buffer, and the open file
 * descriptors back to their baseline.
 */
class LeakTest {
    @Test
    void proxy_100000ConnectionsParanoidLeakDetection_noLeakAndFdsBackToBaseline() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-Xmx512m", "-Dio.netty.leakDetection.level=paranoid",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", System.getProperty("java.class.path"), LeakProbe.class.getName(), "100000", "32", "100000")
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(150, TimeUnit.SECONDS), "probe timed out");
        String s = new String(out, StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("DONE ok=(\\d+) failed=(\\d+) leaks=(\\d+) fdBaseline=(\\d+) fdAfter=(\\d+)").matcher(s);
        assertTrue(m.find(), "no DONE line in: " + s);
        System.out.println(m.group());
        assertEquals(100_000, Integer.parseInt(m.group(1)), "connections completed: " + m.group());
        assertEquals(0, Integer.parseInt(m.group(2)), m.group());
        assertEquals(0, Integer.parseInt(m.group(3)), "leaked buffers: " + s);
        assertEquals(Integer.parseInt(m.group(4)), Integer.parseInt(m.group(5)), "open file descriptors");
        assertTrue(!s.contains("LEAK:"), s);
    }
}
