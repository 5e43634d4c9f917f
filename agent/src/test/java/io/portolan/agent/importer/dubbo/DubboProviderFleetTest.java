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
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Real Apache Dubbo providers register through Dubbo's own etcd registries, interface level and application level, in
 * a one-host fleet whose agent runs {@code --import dubbo}: two of Dubbo 3.2.19 with dubbo-registry-etcd3 3.2.0 (one on
 * the host's own address, so its node is the host's, one in a container) and one of Dubbo 2.7.23 with
 * dubbo-registry-etcd3 2.7.23 and an etcd metadata report in another container, all three providers of the same
 * application ({@link DubboRuntime}: each line's own classpath, JVMs of their own). Dubbo refuses to register a
 * loopback address, hence the fleet's namespaces. Then a container resolves {@code demo-provider} to the VIP, SRV
 * {@code _dubbo._tcp} gives the service port, {@code tasks.} all three providers; stopped providers deregister (Dubbo's
 * shutdown hook, both lines) and their instances leave.
 */
class DubboProviderFleetTest {
    static DubboRuntime dubbo32;
    static DubboRuntime dubbo27;

    @BeforeAll
    static void buildProviders() throws Exception {
        dubbo32 = DubboRuntime.build(DubboRuntime.Line.V3_2);
        dubbo27 = DubboRuntime.build(DubboRuntime.Line.V2_7);
    }

    @AfterAll
    static void clean() throws IOException {
        for (DubboRuntime d : new DubboRuntime[] {dubbo32, dubbo27}) {
            if (d != null) {
                d.close();
            }
        }
    }

    /** A Dubbo 3.2 provider of demo-provider on HOST:20880 in {@code where}, through both of the extension's registries. */
    static Process provider32(Fleet.Netns where, Path log, String etcdHost, String host) {
        return dubbo32.provider(where, log, List.of(), "etcd3://" + etcdHost + ":2379,etcd://" + etcdHost + ":2379?registry-type=service",
                "demo-provider", host, "dubbo:20880");
    }

    /** A Dubbo 2.7.23 provider of demo-provider on HOST:20880, interface level and application level (with an etcd metadata report). */
    static Process provider27(Fleet.Netns where, Path log, String etcdHost, String host) {
        return dubbo27.provider(where, log, List.of("-Ddemo.metadataReport=etcd://" + etcdHost + ":2379"),
                "etcd3://" + etcdHost + ":2379,etcd3://" + etcdHost + ":2379?registry-type=service", "demo-provider", host, "dubbo:20880");
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
            Fleet.Container box27 = h.container("prov27");
            Fleet.Container client = h.container("client");
            Path hostLog = f.dir().resolve("provider-host.log");
            Path boxLog = f.dir().resolve("provider-box.log");
            Path box27Log = f.dir().resolve("provider-box27.log");
            Process onHost = provider32(h, hostLog, h.underlay, h.underlay);
            Process inBox = provider32(box, boxLog, h.underlay, box.address);
            Process inBox27 = provider27(box27, box27Log, h.underlay, box27.address);
            String hostId = "dubbo-" + h.underlay + "-20880-dubbo";
            String boxId = "dubbo-" + box.address + "-20880-dubbo";
            String box27Id = "dubbo-" + box27.address + "-20880-dubbo";
            java.util.concurrent.atomic.AtomicReference<Map<String, Instance>> seen = new java.util.concurrent.atomic.AtomicReference<>();
            try {
                f.await("the three providers imported through both of Dubbo's registries", Duration.ofSeconds(120), () -> {
                    if (!onHost.isAlive() || !inBox.isAlive() || !inBox27.isAlive()) {
                        throw new IllegalStateException("a provider exited: " + Sh.tail(hostLog, 3000) + Sh.tail(boxLog, 3000) + Sh.tail(box27Log, 3000));
                    }
                    Map<String, Instance> m = instances(h);
                    seen.set(m);
                    return m.keySet().equals(java.util.Set.of(hostId, boxId, box27Id))
                            && m.values().stream().allMatch(i -> "application,interface".equals(i.metadata().get("dubbo.registry")));
                });
            } catch (AssertionError e) {
                throw new AssertionError("imported: " + seen.get() + "\nDubbo 2.7.23 provider: " + Sh.tail(box27Log, 6000), e);
            }
            Map<String, Instance> m = instances(h);
            Instance a = m.get(hostId);
            assertEquals("host1", a.node(), "the provider on the host's own address belongs to that host's node");
            assertEquals(DubboImporter.NODE, m.get(boxId).node());
            assertEquals(150, a.weight(), "ServiceConfig.setWeight(150)");
            assertEquals("io.portolan.demo.GreetingService", a.metadata().get("dubbo.interfaces"));
            assertEquals("1.0.0", a.metadata().get("dubbo.version"));
            assertEquals("demo", a.metadata().get("dubbo.group"));
            Instance b = m.get(box27Id);
            assertEquals(DubboImporter.NODE, b.node());
            assertEquals(150, b.weight(), "Dubbo 2.7.23: ServiceConfig.setWeight(150)");
            assertEquals("io.portolan.demo.GreetingService", b.metadata().get("dubbo.interfaces"));

            String vip = f.await("the service defined with a VIP", Duration.ofSeconds(30),
                    () -> service(h).filter(s -> s.vip() != null).map(s -> s.vip().getHostAddress()).orElse(null));
            f.await("getent hosts demo-provider from a container gives the VIP", Duration.ofSeconds(20),
                    () -> client.getent("hosts", "demo-provider").equals(List.of(vip)));
            assertEquals(List.of("0 0 20880 demo-provider.portolan.internal."),
                    client.run("dig", "+short", "+tries=1", "+time=2", "@" + h.gateway, "SRV", "_dubbo._tcp.demo-provider.portolan.internal").lines());
            assertEquals(java.util.stream.Stream.of(h.underlay, box.address, box27.address).sorted().toList(), client.run("dig", "+short", "+tries=1", "+time=2", "@" + h.gateway,
                    "tasks.demo-provider.portolan.internal", "A").lines().stream().sorted().toList());

            // providers stopped: Dubbo's shutdown hook deletes its keys (both lines), and their instances leave
            Sh.stop(inBox, Duration.ofSeconds(30));
            Sh.stop(inBox27, Duration.ofSeconds(30));
            f.await("the stopped providers' instances gone", Duration.ofSeconds(40), () -> instances(h).keySet().equals(java.util.Set.of(hostId)));
            assertTrue(onHost.isAlive());
        }
    }
}
