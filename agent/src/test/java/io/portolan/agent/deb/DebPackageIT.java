package io.portolan.agent.deb;

import io.portolan.agent.fleet.Sh;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The Debian package (deploy/deb/build.sh) built from the shaded jar that {@code mvn package} made,
 * then installed, removed and purged with dpkg on this machine, as an operator would. Runs in the
 * integration-test phase (failsafe), after the jar exists. systemd does not run here: the units
 * are checked with {@code systemd-analyze verify}, and the installed agent is started by hand in a
 * network namespace of this test's own (so its DNS listener and data plane touch nothing on the
 * host).
 *
 * <p>It leaves the machine as it found it: it refuses to run over an installed portolan package
 * (that would remove the operator's), purges what it installed, and removes the portolan user if
 * the package made it.
 */
class DebPackageIT {
    private static final Path ROOT = findRoot();
    private static final Duration LONG = Duration.ofMinutes(3);
    private static boolean userBefore;
    private static String netns;

    @BeforeAll
    static void preconditions() {
        Sh.Result s = Sh.run(List.of("dpkg-query", "-W", "-f", "${Status}", "portolan"), Duration.ofSeconds(30), null);
        if (s.ok() && s.out().contains("installed")) {
            fail("a portolan package is installed on this machine (" + s.out().strip() + "); this test installs and purges"
                    + " its own and will not remove an operator's: dpkg -P portolan first");
        }
        userBefore = Sh.run(List.of("getent", "passwd", "portolan"), Duration.ofSeconds(10), null).ok();
    }

    @AfterAll
    static void leaveTheMachineAsFound() {
        if (netns != null) {
            Sh.run(List.of("ip", "netns", "pids", netns), Duration.ofSeconds(10), null).lines()
                    .forEach(pid -> Sh.run(List.of("kill", "-9", pid), Duration.ofSeconds(10), null));
            Sh.run(List.of("ip", "netns", "del", netns), Duration.ofSeconds(10), null);
        }
        Sh.run(List.of("dpkg", "-P", "portolan"), LONG, null);
        if (!userBefore && Sh.run(List.of("getent", "passwd", "portolan"), Duration.ofSeconds(10), null).ok()) {
            Sh.run(List.of("userdel", "portolan"), Duration.ofSeconds(30), null);
        }
    }

    @Test
    void buildsInstallsRunsRemovesAndPurges() throws Exception {
        Path jar = ROOT.resolve("agent/target/portolan.jar");
        assertTrue(Files.isRegularFile(jar), "no " + jar + ": this test runs after mvn package");
        String version = mavenVersion(jar);
        String debVersion = version.replace('-', '~');
        Path out = ROOT.resolve("agent/target/deb");

        // Build.
        Sh.Result built = Sh.run(List.of(ROOT.resolve("deploy/deb/build.sh").toString(), "--jar", jar.toString(),
                "--out", out.toString()), LONG, null);
        assertTrue(built.ok(), built.toString());
        Path deb = out.resolve("portolan_" + debVersion + "_all.deb");
        assertTrue(Files.isRegularFile(deb), "build.sh made no " + deb + ": " + built);

        // What it declares and holds.
        String info = check("dpkg-deb", "--info", deb.toString());
        assertTrue(info.contains("Package: portolan"), info);
        assertTrue(info.contains("Architecture: all"), info);
        String depends = field(info, "Depends");
        for (String d : List.of("java17-runtime-headless", "nftables", "iproute2", "adduser")) {
            assertTrue(depends.contains(d), "Depends lacks " + d + ": " + depends);
        }
        String recommends = field(info, "Recommends");
        assertTrue(recommends.contains("ipvsadm") && recommends.contains("conntrack"), "Recommends: " + recommends);
        String contents = check("dpkg-deb", "--contents", deb.toString());
        for (String f : List.of("./usr/bin/portolan", "./usr/share/portolan/portolan.jar", "./lib/systemd/system/portolan.service",
                "./lib/systemd/system/portolan.socket", "./etc/portolan/agent.conf", "./usr/share/doc/portolan/copyright",
                "./usr/share/man/man1/portolan.1.gz")) {
            assertTrue(contents.contains(f), "the package lacks " + f + ":\n" + contents);
        }

        // lintian: no errors (warnings and notes are printed for a person to read).
        Sh.Result lint = Sh.run(List.of("lintian", "--tag-display-limit", "0", deb.toString()), LONG, null);
        System.out.println("lintian: " + lint);
        assertFalse(lint.lines().stream().anyMatch(l -> l.startsWith("E:")), "lintian reports errors: " + lint);
        assertTrue(lint.code() == 0 || lint.code() == 1 && lint.lines().stream().noneMatch(l -> l.startsWith("E:")),
                "lintian did not run cleanly: " + lint);

        // Install.
        check(LONG, "dpkg", "-i", deb.toString());
        assertEquals("install ok installed", check("dpkg-query", "-W", "-f", "${Status}", "portolan").strip());
        assertTrue(Files.isExecutable(Path.of("/usr/bin/portolan")));
        assertTrue(check("dpkg-query", "-W", "-f", "${Conffiles}", "portolan").contains("/etc/portolan/agent.conf"),
                "agent.conf is not a conffile");
        String passwd = check("getent", "passwd", "portolan");
        assertTrue(passwd.contains(":/var/lib/portolan:") && passwd.strip().endsWith("nologin"), "the user: " + passwd);
        PosixFileAttributes state = Files.readAttributes(Path.of("/var/lib/portolan"), PosixFileAttributes.class);
        assertEquals("portolan", state.owner().getName(), "owner of /var/lib/portolan");
        assertEquals("rwxr-x---", java.nio.file.attribute.PosixFilePermissions.toString(state.permissions()));
        String shown = check("/usr/bin/portolan", "--version");
        assertTrue(shown.contains(version), "portolan --version says: " + shown);

        // The units as systemd would load them (ExecStart, User, the socket's Service=...).
        Sh.Result verify = Sh.run(List.of("systemd-analyze", "verify", "/lib/systemd/system/portolan.service",
                "/lib/systemd/system/portolan.socket"), LONG, null);
        assertTrue(verify.ok() && !verify.out().contains("portolan"), "systemd-analyze verify: " + verify);

        // The installed agent with the installed config runs, in a namespace of this test's own.
        runInstalledAgent();

        // Remove: the files go, the (changed) conffile and the state stay.
        Path conf = Path.of("/etc/portolan/agent.conf");
        Files.writeString(conf, Files.readString(conf) + "\n# changed by DebPackageIT\n");
        check(LONG, "dpkg", "-r", "portolan");
        assertFalse(Files.exists(Path.of("/usr/bin/portolan")), "/usr/bin/portolan left after dpkg -r");
        assertFalse(Files.exists(Path.of("/usr/share/portolan/portolan.jar")), "the jar left after dpkg -r");
        assertTrue(Files.readString(conf).contains("# changed by DebPackageIT"), "dpkg -r did not keep the changed conffile");
        assertEquals("deinstall ok config-files", check("dpkg-query", "-W", "-f", "${Status}", "portolan").strip());

        // Purge: the conffile and the state directory go; dpkg forgets the package.
        check(LONG, "dpkg", "-P", "portolan");
        assertFalse(Files.exists(conf), "agent.conf left after dpkg -P");
        assertFalse(Files.exists(Path.of("/var/lib/portolan")), "/var/lib/portolan left after dpkg -P");
        assertFalse(Sh.run(List.of("dpkg-query", "-W", "portolan"), Duration.ofSeconds(30), null).ok(),
                "dpkg still knows portolan after dpkg -P");
    }

    private static void runInstalledAgent() throws Exception {
        netns = "ptl-deb-" + ProcessHandle.current().pid();
        check("ip", "netns", "add", netns);
        check("ip", "-n", netns, "link", "set", "lo", "up");
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // a namespace of its own: any port is free there; this one is just a number
        }
        Path stateDir = Files.createTempDirectory("ptl-deb-state");
        Path log = Files.createTempFile("ptl-deb-agent", ".log");
        Process agent = new ProcessBuilder(List.of("ip", "netns", "exec", netns, "/usr/bin/portolan", "agent", "--config",
                "/etc/portolan/agent.conf", "--state-dir", stateDir.toString(), "--admin-listen", "127.0.0.1:" + port))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            Sh.Result ready = null;
            while (System.nanoTime() < deadline && agent.isAlive()) {
                ready = Sh.run(List.of("ip", "netns", "exec", netns, "curl", "-sS", "-m", "2", "http://127.0.0.1:" + port + "/readyz"),
                        Duration.ofSeconds(10), null);
                if (ready.ok()) {
                    break;
                }
                Thread.sleep(200);
            }
            assertTrue(ready != null && ready.ok(), "the installed agent did not become ready: " + ready + "\n" + Files.readString(log));
            // The installed CLI registers a process; the installed agent answers its name with a VIP.
            Path regLog = Files.createTempFile("ptl-deb-register", ".log");
            Process register = new ProcessBuilder(List.of("ip", "netns", "exec", netns, "/usr/bin/portolan", "register",
                    "--agent", "http://127.0.0.1:" + port, "--service", "web", "--address", "127.0.0.1", "--port", "http:8080",
                    "--", "sleep", "60")).redirectErrorStream(true).redirectOutput(regLog.toFile()).start();
            try {
                long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (System.nanoTime() < until && register.isAlive() && !Files.readString(regLog).contains("registered web/")) {
                    Thread.sleep(100);
                }
                assertTrue(Files.readString(regLog).contains("registered web/"), "register: " + Files.readString(regLog));
                String dig = check("ip", "netns", "exec", netns, "dig", "+short", "+time=2", "+tries=2", "@127.0.0.11",
                        "web.portolan.internal");
                assertTrue(dig.strip().matches("10\\.99\\.\\d+\\.\\d+"), "DNS from the installed agent for web: '" + dig.strip()
                        + "'\n" + Files.readString(log));
            } finally {
                register.destroy();
                register.waitFor();
                Files.deleteIfExists(regLog);
            }
        } finally {
            agent.descendants().forEach(ProcessHandle::destroy);
            agent.destroy();
            agent.waitFor();
            Sh.run(List.of("rm", "-rf", stateDir.toString()), Duration.ofSeconds(30), null);
        }
    }

    private static String mavenVersion(Path jar) throws IOException {
        try (ZipFile z = new ZipFile(jar.toFile())) {
            Properties p = new Properties();
            p.load(z.getInputStream(z.getEntry("META-INF/maven/io.portolan/portolan-agent/pom.properties")));
            return p.getProperty("version");
        }
    }

    private static String field(String info, String name) {
        for (String line : info.split("\n")) {
            if (line.strip().startsWith(name + ":")) {
                return line.strip().substring(name.length() + 1).strip();
            }
        }
        return "";
    }

    private static String check(String... argv) {
        return check(Duration.ofSeconds(60), argv);
    }

    private static String check(Duration timeout, String... argv) {
        Sh.Result r = Sh.run(List.of(argv), timeout, null);
        assertTrue(r.ok(), r.toString());
        return r.out();
    }

    private static Path findRoot() {
        Path d = Path.of("").toAbsolutePath();
        while (d != null && !Files.isRegularFile(d.resolve("deploy/deb/build.sh"))) {
            d = d.getParent();
        }
        if (d == null) {
            throw new IllegalStateException("no deploy/deb/build.sh above " + Path.of("").toAbsolutePath());
        }
        return d;
    }
}
