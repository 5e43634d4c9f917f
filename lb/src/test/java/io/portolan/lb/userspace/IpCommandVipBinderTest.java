package io.portolan.lb.userspace;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real {@code ip addr add/del}, inside a namespace this test creates. */
class IpCommandVipBinderTest {
    private final String ns = "portolan-vip-" + ProcessHandle.current().pid();

    private static String run(String... argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", argv) + ": " + out);
        return out;
    }

    @BeforeEach
    void namespace() throws Exception {
        run("ip", "netns", "add", ns);
        run("ip", "-n", ns, "link", "set", "lo", "up");
    }

    @AfterEach
    void removeNamespace() throws Exception {
        run("ip", "netns", "del", ns);
    }

    @Test
    void addRemove_vipOnLo_appearsThenGoneAndBothIdempotent() throws Exception {
        VipBinder b = new IpCommandVipBinder(List.of("ip", "-n", ns), "lo");
        InetAddress vip = Fixtures.addr("10.99.0.7");
        b.add(vip);
        b.add(vip);
        assertTrue(run("ip", "-n", ns, "-o", "addr", "show", "dev", "lo").contains("inet 10.99.0.7/32"));
        b.remove(vip);
        b.remove(vip);
        assertFalse(run("ip", "-n", ns, "-o", "addr", "show", "dev", "lo").contains("10.99.0.7"));
    }

    @Test
    void add_missingDevice_failsNamingDevice() {
        VipBinder b = new IpCommandVipBinder(List.of("ip", "-n", ns), "nosuchdev0");
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> b.add(Fixtures.addr("10.99.0.8")));
        assertTrue(e.getMessage().contains("nosuchdev0"), e.getMessage());
    }
}
