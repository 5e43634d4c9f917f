package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.Client;
import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.agent.testing.LogCapture;
import io.portolan.agent.testing.TcpProxy;
import io.portolan.proto.Extras;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import org.junit.jupiter.api.Test;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.proto.Cidr;

import java.net.InetAddress;
import java.net.URI;
import java.time.Duration;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.portolan.agent.testing.EtcdClients.bs;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An etcd member that falls silent. One etcd behind two relays, A and B, given as two members (A
 * first, {@code --etcd-start first}, so everything starts on A); A is then frozen: its connections
 * stay open and carry nothing, as a member cut off by the network (no reset, no answer: gRPC's
 * keepalive would notice after 10 s + 5 s).
 * <ul>
 * <li>An agent: its host lease's next keep-alive (every TTL/3) times out and leaves A; every watch
 *     (the registry's and the Dubbo import's two) resumes on B and misses nothing.
 * <li>A registry holding no lease (nothing on its connection but the watch): the watch asks for
 *     progress once its member has been quiet {@value PrefixWatch#PROBE_AFTER_MS} ms and leaves it
 *     after {@value PrefixWatch#SILENCE_MS} ms of silence.
 * </ul>
 */
class WatchSilenceTest {
    static final String PREFIX = "/portolan/";
    static final String IFACE = "io.portolan.demo.SilentService";

    @Test
    void memberFallsSilent_everyWatchResumesOnTheNextMember_withinTheSilenceBound_nothingMissed() throws Exception {
        try (LogCapture log = new LogCapture();
             EtcdServer etcd = new EtcdServer();
             TcpProxy a = new TcpProxy(etcd.clientPort());
             TcpProxy b = new TcpProxy(etcd.clientPort());
             Client client = EtcdClients.client(etcd.endpoint())) {
            String memberA = "http://127.0.0.1:" + a.port();
            String memberB = "http://127.0.0.1:" + b.port();
            try (Agent agent = Agent.start(AgentConfig.parse(new String[] {"--etcd-endpoints", memberA + "," + memberB,
                    "--import", "dubbo", "--node", "silent-host", "--advertise-address", "10.20.0.5",
                    "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--etcd-timeout", "1s", "--etcd-start", "first",
                    "--state-dir", Files.createTempDirectory("watch-silence").toString()}))) {
                Await.until("agent loaded", 15_000, () -> agent.state().loaded());
                put(client, PREFIX + "services/web", JsonCodec.encode(new Service("web", Mode.DNSRR,
                        List.of(new Port("http", 8080, Protocol.TCP)), null, null, null, null)));
                put(client, PREFIX + "instances/web/a", instance("a", 1));
                put(client, dubboKey("10.20.0.8"), "1".getBytes(StandardCharsets.UTF_8));
                Await.until("web/a in the snapshot", 10_000, () -> ids(agent).equals(Set.of("a")));
                Await.until("silent-app imported from 10.20.0.8, its service defined", 15_000,
                        () -> dubboIds(agent).equals(Set.of("dubbo-10.20.0.8-20880-dubbo"))
                                && agent.publisher().current().service("silent-app").isPresent());
                Thread.sleep(1_500);

                a.freeze();
                long frozen = System.nanoTime();
                put(client, PREFIX + "instances/web/b", instance("b", 2));
                client.getKVClient().delete(bs(PREFIX + "instances/web/a")).get(10, TimeUnit.SECONDS);
                client.getKVClient().delete(bs(dubboKey("10.20.0.8"))).get(10, TimeUnit.SECONDS);
                put(client, dubboKey("10.20.0.9"), "1".getBytes(StandardCharsets.UTF_8));

                // the bound: the host lease's next keep-alive (TTL 10 s: every 3.3 s) times out after 500 ms (a quarter
                // of the TTL, at most half of --etcd-timeout, at least 500 ms), then a resume on B at once; gRPC alone
                // would wait 15 s
                long bound = 10_000 / 3 + 500 + 2_500;
                Await.until("web/b in, web/a out, silent-app moved to 10.20.0.9, all through member B", bound,
                        () -> ids(agent).equals(Set.of("b")) && dubboIds(agent).equals(Set.of("dubbo-10.20.0.9-20880-dubbo")));
                long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - frozen);
                System.out.println("every change seen " + took + " ms after member A froze");

                String text = log.text();
                assertTrue(text.contains("leaving etcd member " + memberA + " (no answer to 'keep-alive of the host lease' within"),
                        "the keep-alive found A silent: " + tail(text));
                assertTrue(text.contains("talking to " + memberB + " now"), tail(text));
                for (String w : List.of("registry: watch of " + PREFIX, "dubbo-interfaces: watch of /dubbo/",
                        "dubbo-applications: watch of /services/")) {
                    assertTrue(text.contains(w + " on " + memberA + " "), w + " left A too: " + tail(text));
                }
                assertTrue(!text.contains("leaving etcd member " + memberB), "B never failed: " + tail(text));
                assertTrue(!text.contains(" silent for"), "no watch had to wait for silence: " + tail(text));

                // nothing missed: the agent holds what etcd holds (its own nodes/ key aside)
                Map<String, Object> want = parsedWithoutNodes(EtcdClients.list(client, PREFIX).values());
                Await.until("the agent holds what etcd holds", 10_000, () -> want.equals(withoutNodeKeys(agent.state().acceptedValues())));
            } finally {
                a.thaw();
            }
        }
    }

    @Test
    void registryWithoutLease_memberFallsSilent_theWatchProbesAndLeavesIt_withinTheSilenceBound() throws Exception {
        try (LogCapture log = new LogCapture();
             EtcdServer etcd = new EtcdServer();
             TcpProxy a = new TcpProxy(etcd.clientPort());
             TcpProxy b = new TcpProxy(etcd.clientPort());
             Client client = EtcdClients.client(etcd.endpoint())) {
            URI memberA = URI.create("http://127.0.0.1:" + a.port());
            URI memberB = URI.create("http://127.0.0.1:" + b.port());
            KeyLayout layout = new KeyLayout(PREFIX);
            SimpleMeterRegistry meters = new SimpleMeterRegistry();
            SnapshotPublisher publisher = new SnapshotPublisher();
            RegistryState state = new RegistryState(layout, publisher, meters);
            put(client, PREFIX + "services/web", JsonCodec.encode(new Service("web", Mode.DNSRR,
                    List.of(new Port("http", 8080, Protocol.TCP)), null, null, null, null)));
            put(client, PREFIX + "instances/web/a", instance("a", 1));
            try (EtcdRegistry registry = new EtcdRegistry(EtcdAccess.plain(List.of(memberA, memberB)).listedFirst(true), layout,
                    Cidr.parse("vip-cidr", "10.99.0.0/16"), Duration.ofSeconds(1), meters)) {
                registry.start(state);
                Await.until("web/a in the snapshot", 10_000, () -> ids(publisher).equals(Set.of("a")));
                a.freeze();
                long frozen = System.nanoTime();
                put(client, PREFIX + "instances/web/b", instance("b", 2));
                client.getKVClient().delete(bs(PREFIX + "instances/web/a")).get(10, TimeUnit.SECONDS);
                long bound = PrefixWatch.SILENCE_MS + 2 * PrefixWatch.TICK_MS + 2_000;
                Await.until("web/b in, web/a out, through member B", bound, () -> ids(publisher).equals(Set.of("b")));
                System.out.println("every change seen " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - frozen)
                        + " ms after member A froze");
                String text = log.text();
                assertTrue(text.contains("registry: watch of " + PREFIX + " on " + memberA + " silent for"), tail(text));
                assertTrue(text.contains("leaving etcd member " + memberA + " (silent for"), tail(text));
            } finally {
                a.thaw();
            }
        }
    }

    static Set<String> ids(SnapshotPublisher publisher) {
        return publisher.current().instances("web").stream().map(Instance::id).collect(Collectors.toSet());
    }

    static void put(Client c, String key, byte[] value) throws Exception {
        c.getKVClient().put(bs(key), EtcdClients.bs(value)).get(10, TimeUnit.SECONDS);
    }

    static byte[] instance(String id, int n) throws Exception {
        return JsonCodec.encode(new Instance(id, "web", "node-1", InetAddress.getByName("10.1.0." + n),
                List.of(new Port("http", 8080, Protocol.TCP)), 100, Health.HEALTHY, Map.of(), Instant.ofEpochSecond(n), Extras.NONE));
    }

    static Set<String> ids(Agent agent) {
        return agent.publisher().current().instances("web").stream().map(Instance::id).collect(Collectors.toSet());
    }

    static Set<String> dubboIds(Agent agent) {
        return agent.publisher().current().instances("silent-app").stream().map(Instance::id).collect(Collectors.toSet());
    }

    /** An interface-level provider key as Dubbo's etcd3 registry writes it. */
    static String dubboKey(String host) {
        return "/dubbo/" + enc(IFACE) + "/providers/" + enc("dubbo://" + host + ":20880/" + IFACE
                + "?application=silent-app&interface=" + IFACE + "&side=provider");
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** etcd's values under the prefix as the registry state holds them (parsed), nodes/ aside. */
    static Map<String, Object> parsedWithoutNodes(Map<String, String> kv) {
        KeyLayout layout = new KeyLayout(PREFIX);
        Map<String, Object> out = new TreeMap<>();
        kv.forEach((k, v) -> {
            if (!k.startsWith(PREFIX + "nodes/")) {
                out.put(k, RegistryState.decode(layout.parse(k), v.getBytes(StandardCharsets.UTF_8)));
            }
        });
        return out;
    }

    static Map<String, Object> withoutNodeKeys(Map<String, Object> held) {
        Map<String, Object> out = new TreeMap<>(held);
        out.keySet().removeIf(k -> k.startsWith(PREFIX + "nodes/"));
        return out;
    }

    static String tail(String s) {
        return s.length() > 4_000 ? s.substring(s.length() - 4_000) : s;
    }
}
