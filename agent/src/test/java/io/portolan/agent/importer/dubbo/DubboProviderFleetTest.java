package io.portolan.agent.importer.dubbo;

import io.portolan.agent.fleet.Fleet;
import io.portolan.agent.fleet.Sh;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real Apache Dubbo providers (3.2.19 with dubbo-registry-etcd3 3.2.0: the project in agent/src/test/dubbo, kept off the
 * agent's classpath, its classpath resolved by Maven and run in JVMs of their own) register through Dubbo's own etcd3
 * registry, interface level and application level, in a one-host fleet whose agent runs {@code --import dubbo}: one on
 * the host's own address (so its node is the host's), one in a container. Dubbo refuses to register a loopback
 * address, hence the fleet's namespaces. Then a container resolves {@code demo-provider} to the VIP, SRV
 * {@code _dubbo._tcp} gives the service port, {@code tasks.} both providers; a provider stopped deregisters and its
 * instance leaves.
 */
class DubboProviderFleetTest {
    static Path work;
    static String classpath;

    @BeforeAll
    static void buildProvider() throws Exception {
        Path project = findProject();
        work = Files.createTempDirectory("dubbo-provider");
        Path cpFile = work.resolve("classpath.txt");
        Process mvn = new ProcessBuilder("mvn", "-q", "-B", "-ntp", "-f", project.resolve("pom.xml").toString(), "dependency:build-classpath",
                "-Dmdep.outputFile=" + cpFile).redirectErrorStream(true).redirectOutput(work.resolve("mvn.log").toFile()).start();
        if (!mvn.waitFor(600, TimeUnit.SECONDS)) {
            mvn.destroyForcibly();
            throw new IOException("resolving the Dubbo provider's classpath took over 10 minutes");
        }
        assertEquals(0, mvn.exitValue(), "mvn dependency:build-classpath: " + Files.readString(work.resolve("mvn.log")));
        String deps = Files.readString(cpFile).trim();
        Path classes = Files.createDirectories(work.resolve("classes"));
        List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "-cp", deps, "--release", "17"));
        try (Stream<Path> s = Files.walk(project.resolve("src/main/java"))) {
            s.filter(p -> p.toString().endsWith(".java")).forEach(p -> args.add(p.toString()));
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertEquals(0, javac.run(null, null, null, args.toArray(new String[0])), "javac of the Dubbo provider");
        classpath = classes + File.pathSeparator + deps;
    }

    @AfterAll
    static void clean() throws IOException {
        if (work != null) {
            try (Stream<Path> s = Files.walk(work)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    static Path findProject() {
        for (Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath(); p != null; p = p.getParent()) {
            for (Path c : List.of(p.resolve("src/test/dubbo"), p.resolve("agent/src/test/dubbo"))) {
                if (Files.isRegularFile(c.resolve("pom.xml"))) {
                    return c;
                }
            }
        }
        throw new IllegalStateException("no agent/src/test/dubbo/pom.xml above " + System.getProperty("user.dir"));
    }

    /** {@code java ... Provider REGISTRIES demo-provider HOST dubbo:20880} in {@code where}, logging to {@code log}. */
    static Process provider(Fleet.Netns where, Path log, String etcdHost, String host) {
        String registries = "etcd3://" + etcdHost + ":2379,etcd://" + etcdHost + ":2379?registry-type=service";
        return where.spawn(log, Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-opens", "java.base/java.lang=ALL-UNNAMED", "-Ddubbo.application.logger=jdk", "-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-cp", classpath, "io.portolan.demo.Provider", registries, "demo-provider", host, "dubbo:20880");
    }

    static Map<String, Instance> instances(Fleet.Host h) {
        String json = h.admin("/v1/snapshot");
        Map<String, Instance> m = new TreeMap<>();
        if (json != null) {
            ClusterSnapshot s = JsonCodec.decodeSnapshot(json.getBytes(StandardCharsets.UTF_8));
            for (Instance i : s.instances("demo-provider")) {
                m.put(i.id(), i);
            }
        }
        return m;
    }

    static Optional<Service> service(Fleet.Host h) {
        String json = h.admin("/v1/snapshot");
        return json == null ? Optional.empty() : JsonCodec.decodeSnapshot(json.getBytes(StandardCharsets.UTF_8)).service("demo-provider");
    }

    @Test
    void realDubboProviders_registerThroughDubbosRegistry_andResolveToTheVip() throws Exception {
        try (Fleet f = Fleet.start(Fleet.options().hosts(1).layout(Fleet.Layout.ROUTED).plane(Fleet.Plane.NONE).agentFlags("--import", "dubbo"))) {
            Fleet.Host h = f.host(1);
            Fleet.Container box = h.container("prov");
            Fleet.Container client = h.container("client");
            Path hostLog = f.dir().resolve("provider-host.log");
            Path boxLog = f.dir().resolve("provider-box.log");
            Process onHost = provider(h, hostLog, h.underlay, h.underlay);
            Process inBox = provider(box, boxLog, h.underlay, box.address);
            String hostId = "dubbo-" + h.underlay + "-20880-dubbo";
            String boxId = "dubbo-" + box.address + "-20880-dubbo";
            f.await("both providers imported through both of Dubbo's registries", Duration.ofSeconds(120), () -> {
                if (!onHost.isAlive() || !inBox.isAlive()) {
                    throw new IllegalStateException("a provider exited: " + Sh.tail(hostLog, 3000) + Sh.tail(boxLog, 3000));
                }
                Map<String, Instance> m = instances(h);
                return m.keySet().equals(java.util.Set.of(hostId, boxId))
                        && m.values().stream().allMatch(i -> "application,interface".equals(i.metadata().get("dubbo.registry")));
            });
            Map<String, Instance> m = instances(h);
            Instance a = m.get(hostId);
            assertEquals("host1", a.node(), "the provider on the host's own address belongs to that host's node");
            assertEquals(DubboImporter.NODE, m.get(boxId).node());
            assertEquals(150, a.weight(), "ServiceConfig.setWeight(150)");
            assertEquals("io.portolan.demo.GreetingService", a.metadata().get("dubbo.interfaces"));
            assertEquals("1.0.0", a.metadata().get("dubbo.version"));
            assertEquals("demo", a.metadata().get("dubbo.group"));

            String vip = f.await("the service defined with a VIP", Duration.ofSeconds(30),
                    () -> service(h).filter(s -> s.vip() != null).map(s -> s.vip().getHostAddress()).orElse(null));
            f.await("getent hosts demo-provider from a container gives the VIP", Duration.ofSeconds(20),
                    () -> client.getent("hosts", "demo-provider").equals(List.of(vip)));
            assertEquals(List.of("0 0 20880 demo-provider.portolan.internal."),
                    client.run("dig", "+short", "+tries=1", "+time=2", "@" + h.gateway, "SRV", "_dubbo._tcp.demo-provider.portolan.internal").lines());
            assertEquals(List.of(h.underlay, box.address), client.run("dig", "+short", "+tries=1", "+time=2", "@" + h.gateway,
                    "tasks.demo-provider.portolan.internal", "A").lines().stream().sorted().toList());

            // a provider stopped: Dubbo's shutdown hook deletes its keys, and its instance leaves
            Sh.stop(inBox, Duration.ofSeconds(30));
            f.await("the stopped provider's instance gone", Duration.ofSeconds(40), () -> instances(h).keySet().equals(java.util.Set.of(hostId)));
            assertTrue(onHost.isAlive());
        }
    }
}
