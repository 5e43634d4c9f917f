package io.portolan.agent.firstrun;

import io.portolan.agent.fleet.Fleet;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The README's quick start, run as it is written: the lines of the code block after the
 * {@code <!-- quickstart: ... -->} marker in README.md, by bash, from the checkout's root, with the
 * real launcher ({@code deploy/bin/portolan}, running the agent's jar: {@link Fleet#findOrMakeJar}).
 * It runs where it cannot touch the host: a fresh network namespace (a veth with 10.250.0.2/24 and a
 * default route stand for the machine's network) and a private mount namespace in which a temporary
 * directory is mounted over /var/lib (the embedded store's /var/lib/portolan) and a temporary file over
 * /etc/resolv.conf (the quick start points it at the agent, then puts it back). What a user sees is
 * checked: the agent chose nftables, {@code register} registered the host's address, {@code services}
 * lists it, curl reached the python server through the VIP and by name, and {@code agent --cleanup}
 * left the namespace with no ruleset. Root, nft, dig, curl, python3, unshare.
 */
class QuickStartTest {
    static final String MARKER = "<!-- quickstart:";

    static Path repoRoot() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve("README.md")) && Files.isExecutable(d.resolve("deploy/bin/portolan"))) {
                return d;
            }
        }
        throw new IllegalStateException("no checkout root (README.md, deploy/bin/portolan) above " + Path.of("").toAbsolutePath());
    }

    /** The lines of the README's quick start: the ```sh block after the marker. */
    static List<String> quickStart(String readme) {
        List<String> lines = readme.lines().toList();
        int i = 0;
        while (i < lines.size() && !lines.get(i).startsWith(MARKER)) {
            i++;
        }
        assertTrue(i < lines.size(), "README.md has the marker " + MARKER);
        assertEquals("```sh", lines.get(i + 1), "the marker is followed by a ```sh block");
        List<String> block = new ArrayList<>();
        for (int j = i + 2; j < lines.size() && !lines.get(j).equals("```"); j++) {
            block.add(lines.get(j));
        }
        return block;
    }

    /** Test scaffolding, run before the quick start inside the namespaces (never on the host: it checks). */
    static final String PRELUDE = String.join("\n",
            "set -euo pipefail",
            "work=$1",
            "[ \"$(ip netns identify $$)\" = \"$2\" ]",                                 // in the test's own network namespace
            "mount --make-rprivate /",
            "mount --bind \"$work/varlib\" /var/lib",
            "cp /etc/resolv.conf \"$work/resolv.conf\"; echo '# quickstart-test' >> \"$work/resolv.conf\"",
            "mount --bind \"$work/resolv.conf\" \"$(readlink -f /etc/resolv.conf)\"",
            "grep -q quickstart-test /etc/resolv.conf",
            "[ -z \"$(ls -A /var/lib)\" ]",
            "ip link add eth0 type veth peer name eth0-peer",
            "ip addr add 10.250.0.2/24 dev eth0",
            "ip link set eth0-peer up; ip link set eth0 up",
            "ip route add default via 10.250.0.1",
            "set +euo pipefail",
            "");

    @Test
    void readmeQuickStart_endToEnd_inFreshNamespaces() throws Exception {
        Path root = repoRoot();
        List<String> lines = quickStart(Files.readString(root.resolve("README.md")));
        String script = String.join("\n", lines);
        for (String needed : List.of("portolan agent &", "portolan register --service web", "curl", "http://web:", "portolan agent --cleanup")) {
            assertTrue(script.contains(needed), "the quick start has " + needed + ":\n" + script);
        }
        Path work = Files.createTempDirectory("ptl-quickstart");
        Files.createDirectories(work.resolve("varlib"));
        Path jar = Fleet.findOrMakeJar(work);
        String resolvBefore = Files.readString(Path.of("/etc/resolv.conf"));
        boolean varLibPortolanBefore = Files.exists(Path.of("/var/lib/portolan"));
        Path out = work.resolve("quickstart.out");
        try (Netns ns = new Netns("ptl-qs")) {
            String javaBin = System.getProperty("java.home") + File.separator + "bin";
            List<String> cmd = List.of("ip", "netns", "exec", ns.name, "unshare", "--mount", "--propagation", "private",
                    "env", "PORTOLAN_JAR=" + jar, "PATH=" + javaBin + ":" + System.getenv("PATH"),
                    "bash", "-c", PRELUDE + script + "\necho \"quickstart: the last command exited $?\"\n", "quickstart", work.toString(), ns.name);
            Process p = new ProcessBuilder(cmd).directory(root.toFile()).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                fail("the quick start did not finish in 300 s:\n" + Files.readString(out));
            }
            String o = Files.readString(out, StandardCharsets.UTF_8);
            System.out.println("---- quick start output\n" + o);
            String version = Files.readString(root.resolve("pom.xml")).replaceAll("(?s).*?<artifactId>portolan-parent</artifactId>\\s*<version>([^<]+)</version>.*", "$1");
            assertTrue(o.contains("portolan " + version + "\n"), "--version: " + o);
            assertTrue(o.contains("data plane nftables: --dataplane auto: nftables can run here"), o);
            assertTrue(Pattern.compile("(?m)^registered web/web-\\S+ vip 10\\.99\\.\\d+\\.\\d+$").matcher(o).find(), o);
            assertTrue(Pattern.compile("(?m)^web\\s+vip\\s+10\\.99\\.\\d+\\.\\d+\\s+http:8080/tcp\\s+web-\\S+\\s+10\\.250\\.0\\.2:8080\\s").matcher(o).find(),
                    "services lists the host's address: " + o);
            assertEquals(2, o.split(Pattern.quote("<title>Directory listing for /</title>"), -1).length - 1,
                    "curl reached the server through the VIP and by name: " + o);
            assertFalse(o.contains("failed"), o);
            assertTrue(o.contains("nftables: deleted table ip portolan"), o);
            assertTrue(o.contains("quickstart: the last command exited 0"), o);
            assertEquals("", ns.in("nft", "list", "ruleset").text().strip(), "--cleanup left no ruleset");
            assertFalse(ns.in("ip", "addr").text().contains(":ptl"), "no labelled VIP");
            assertTrue(Files.isRegularFile(work.resolve("varlib/portolan/registry.journal")), "the store went to the mounted /var/lib");
        }
        assertEquals(resolvBefore, Files.readString(Path.of("/etc/resolv.conf")), "the host's resolv.conf is untouched");
        assertEquals(varLibPortolanBefore, Files.exists(Path.of("/var/lib/portolan")), "the host's /var/lib is untouched");
    }
}
