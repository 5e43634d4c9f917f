package io.portolan.agent.firstrun;

import io.portolan.agent.testing.Cli;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --dataplane auto} (the default), the real agent in a fresh network namespace each time: root
 * gets nftables (its table made, the probe's scratch table gone); without {@code nft} on PATH, userspace;
 * without CAP_NET_ADMIN (root with every capability dropped, through {@code setpriv}), none with a warning
 * saying why, and nothing made in the namespace; the same with VIPs in 127.0.0.0/8, userspace, which
 * needs no privilege. The log names the plane and the reason. Root and nft, setpriv, ip.
 */
class DataPlaneAutoTest {
    static Path dir;

    @BeforeAll
    static void dir() throws Exception {
        dir = Files.createTempDirectory("ptl-auto");
    }

    /** Starts the agent with {@code prefix} before java, waits until it is up; its log. */
    static String runAgent(Netns ns, String tag, List<String> prefix, Map<String, String> env, String... flags) throws Exception {
        List<String> cmd = new ArrayList<>(prefix);
        List<String> args = new ArrayList<>(List.of("agent", "--dns-listen", "none", "--state-dir", dir.resolve(tag).toString(),
                "--advertise-address", "10.213.0.1", "--node", "auto-" + tag));
        args.addAll(List.of(flags));
        cmd.addAll(Cli.builder(args.toArray(new String[0])).command());
        Path log = dir.resolve(tag + ".log");
        Process p = ns.start(cmd, log, env);
        String s = Netns.awaitLog(log, "portolan agent auto-" + tag, 90_000, p);
        // register a service, so that a plane that runs has something to make
        Netns.Out r = ns.in("curl", "-sS", "--fail-with-body", "--max-time", "10", "-X", "POST", "--data",
                "{\"service\":\"web\",\"id\":\"w1\",\"address\":\"10.213.0.9\",\"ports\":[{\"name\":\"http\",\"port\":8080}],\"ttl\":600}",
                "http://127.0.0.1:9190/v1/instances");
        assertEquals(0, r.code(), r.text());
        Thread.sleep(1500); // the plane's sync (--nft-min-sync-interval is 500ms)
        return s;
    }

    static String planeLine(String log) {
        return log.lines().filter(l -> l.contains(" data plane ")).findFirst().orElse("(no data plane line)\n" + log);
    }

    @Test
    void root_getsNftables_andTheProbeLeavesNothing() throws Exception {
        try (Netns ns = new Netns("ptl-auto")) {
            String log = runAgent(ns, "root", List.of(), Map.of());
            String line = planeLine(log);
            assertTrue(line.contains("INFO") && line.contains("data plane nftables: --dataplane auto: nftables can run here"), line);
            String tables = ns.in("nft", "list", "tables").text();
            assertEquals("table ip portolan", tables.strip(), "the agent's table and nothing else (no probe table left)");
            assertTrue(ns.in("nft", "list", "table", "ip", "portolan").text().contains("8080"), "web's port rendered");
        }
    }

    @Test
    void nftMissing_getsUserspace() throws Exception {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Files.deleteIfExists(bin.resolve("ip"));
        Files.createSymbolicLink(bin.resolve("ip"), Path.of("/usr/sbin/ip"));
        try (Netns ns = new Netns("ptl-auto")) {
            String log = runAgent(ns, "nonft", List.of("env", "PATH=" + bin + ":/usr/bin:/bin"), Map.of());
            String line = planeLine(log);
            assertTrue(line.contains("data plane userspace: --dataplane auto: userspace can run here (nftables: nft is not on PATH"), line);
            assertEquals("", ns.in("nft", "list", "tables").text().strip(), "no table");
            String lo = ns.in("ip", "-4", "addr", "show", "dev", "lo").text();
            assertTrue(lo.contains("lo:ptl"), "the userspace plane put web's VIP on lo: " + lo);
        }
    }

    @Test
    void noNetAdmin_getsNone_withAWarningSayingWhy() throws Exception {
        try (Netns ns = new Netns("ptl-auto")) {
            String log = runAgent(ns, "nocap", List.of("setpriv", "--bounding-set=-all", "--inh-caps=-all"), Map.of());
            String line = planeLine(log);
            assertTrue(line.contains("WARN") && line.contains("data plane none: --dataplane auto: no data plane can run here"), line);
            assertTrue(line.contains("nftables: nft cannot create a table here") && line.contains("CAP_NET_ADMIN"), line);
            assertTrue(line.contains("userspace: putting VIPs from 10.99.0.0/16 on lo needs root or CAP_NET_ADMIN"), line);
            assertEquals("", ns.in("nft", "list", "tables").text().strip());
            assertFalse(ns.in("ip", "-4", "addr", "show", "dev", "lo").text().contains("ptl"));
            assertTrue(log.contains("data plane none"), log);
        }
    }

    @Test
    void noNetAdmin_loopbackVips_getsUserspace() throws Exception {
        try (Netns ns = new Netns("ptl-auto")) {
            String log = runAgent(ns, "nocap127", List.of("setpriv", "--bounding-set=-all", "--inh-caps=-all"), Map.of(),
                    "--vip-cidr", "127.66.0.0/24");
            String line = planeLine(log);
            assertTrue(line.contains("data plane userspace: --dataplane auto: userspace can run here (nftables: nft cannot create"), line);
            // the plane runs unprivileged: it listens on web's VIP and port
            String services = ns.in("curl", "-sS", "--max-time", "5", "http://127.0.0.1:9190/v1/services").text();
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"vip\":\"(127\\.66\\.0\\.\\d+)\"").matcher(services);
            assertTrue(m.find(), services);
            String listening = ns.in("ss", "-Hltn").text();
            assertTrue(listening.contains(m.group(1) + ":8080"), "listening on " + m.group(1) + ":8080: " + listening);
        }
    }
}
