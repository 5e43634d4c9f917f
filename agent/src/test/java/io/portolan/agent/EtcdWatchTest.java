package io.portolan.agent;

import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.PutOption;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.agent.testing.TcpProxy;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Extras;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

import static io.portolan.agent.testing.EtcdClients.bs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The agent's watch against a real etcd: bursts, compaction while cut off, etcd outages. */
class EtcdWatchTest {
    static final String PREFIX = "/portolan/";
    EtcdServer etcd;
    TcpProxy proxy;
    Agent agent;
    Client client;

    @BeforeEach
    void up() throws Exception {
        etcd = new EtcdServer();
        proxy = new TcpProxy(etcd.clientPort());
        client = EtcdClients.client(etcd.endpoint());
        agent = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--etcd-endpoints", "http://127.0.0.1:" + proxy.port(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--state-dir", Files.createTempDirectory("agent-state").toString(),
                "--etcd-timeout", "1s"}));
        Await.until("agent loaded", 10_000, () -> agent.state().loaded());
    }

    @AfterEach
    void down() throws Exception {
        agent.close();
        client.close();
        proxy.close();
        etcd.close();
    }

    static byte[] instance(String service, String id, int n) throws Exception {
        return JsonCodec.encode(new Instance(id, service, "node-" + (n % 7), InetAddress.getByName("10.1." + (n / 250 % 250) + "." + (n % 250 + 1)),
                List.of(new Port("http", 8080, Protocol.TCP)), n % 101, Health.HEALTHY, Map.of(), Instant.ofEpochSecond(n), Extras.NONE));
    }

    static byte[] service(String name) {
        return JsonCodec.encode(new Service(name, Mode.DNSRR, List.of(new Port("http", 8080, Protocol.TCP)), null, null, null, null));
    }

    void put(String key, byte[] value) throws Exception {
        client.getKVClient().put(bs(key), EtcdClients.bs(value)).get(10, TimeUnit.SECONDS);
    }

    /** Services and instances: the agents' own nodes/ keys come and go with their leases, on their own time. */
    static Map<String, String> withoutNodes(Map<String, String> kv) {
        Map<String, String> out = new java.util.TreeMap<>(kv);
        out.keySet().removeIf(k -> k.startsWith(PREFIX + "nodes/"));
        return out;
    }

    /** Each value parsed as the agent parses it (nodes/ aside): what the agent must hold for etcd's content. */
    static Map<String, Object> parsedWithoutNodes(Map<String, String> kv) {
        io.portolan.proto.KeyLayout layout = new io.portolan.proto.KeyLayout(PREFIX);
        Map<String, Object> out = new java.util.TreeMap<>();
        withoutNodes(kv).forEach((k, v) -> out.put(k, io.portolan.agent.registry.RegistryState.decode(layout.parse(k),
                v.getBytes(java.nio.charset.StandardCharsets.UTF_8))));
        return out;
    }

    static Map<String, Object> withoutNodeKeys(Map<String, Object> held) {
        Map<String, Object> out = new java.util.TreeMap<>(held);
        out.keySet().removeIf(k -> k.startsWith(PREFIX + "nodes/"));
        return out;
    }

    /** The agent's parsed values equal etcd's content under the prefix, key by key (nodes/ aside). */
    void awaitEqualToEtcd(long timeoutMillis) throws Exception {
        EtcdClients.Listing want = EtcdClients.list(client, PREFIX);
        Await.until("agent reaches etcd revision " + want.revision(), timeoutMillis, () -> agent.state().revision() >= want.revision());
        Await.until("snapshot published", timeoutMillis, () -> agent.publisher().current().revision() >= want.revision());
        assertEquals(parsedWithoutNodes(want.values()), withoutNodeKeys(agent.state().acceptedValues()));
        ClusterSnapshot s = agent.publisher().current();
        int instances = (int) want.values().keySet().stream().filter(k -> k.startsWith(PREFIX + "instances/")).count();
        assertEquals(instances, s.instanceCount());
        for (Map.Entry<String, String> e : want.values().entrySet()) {
            if (e.getKey().startsWith(PREFIX + "instances/")) {
                Instance i = JsonCodec.decodeInstance(e.getValue().getBytes());
                assertTrue(s.instances(i.service()).contains(i), e.getKey());
            }
        }
    }

    @Test
    void burstOf10000PutsAndDeletes_snapshotEqualsEtcd() throws Exception {
        for (int s = 0; s < 10; s++) {
            put(PREFIX + "services/burst-" + s, service("burst-" + s));
        }
        Random rnd = new Random(42);
        Semaphore inFlight = new Semaphore(128);
        List<CompletableFuture<?>> all = new ArrayList<>();
        for (int op = 0; op < 10_000; op++) {
            int n = rnd.nextInt(2_000);
            String svc = "burst-" + (n % 10);
            String key = PREFIX + "instances/" + svc + "/i-" + n;
            inFlight.acquire();
            CompletableFuture<?> f = rnd.nextInt(3) == 0
                    ? client.getKVClient().delete(bs(key))
                    : client.getKVClient().put(bs(key), EtcdClients.bs(instance(svc, "i-" + n, n + op)), PutOption.DEFAULT);
            all.add(f.whenComplete((r, t) -> inFlight.release()));
        }
        CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).get(120, TimeUnit.SECONDS);
        awaitEqualToEtcd(20_000);
        assertTrue(agent.publisher().current().instanceCount() > 500);
    }

    @Test
    void compactionWhileCutOff_noDeleteMissed() throws Exception {
        for (int n = 0; n < 50; n++) {
            put(PREFIX + "instances/web/i-" + n, instance("web", "i-" + n, n));
        }
        put(PREFIX + "services/web", service("web"));
        awaitEqualToEtcd(10_000);
        long before = agent.state().revision();

        proxy.cut();
        for (int n = 0; n < 50; n += 2) {
            client.getKVClient().delete(bs(PREFIX + "instances/web/i-" + n)).get(10, TimeUnit.SECONDS);
        }
        for (int n = 50; n < 60; n++) {
            put(PREFIX + "instances/web/i-" + n, instance("web", "i-" + n, n));
        }
        put(PREFIX + "instances/web/i-1", instance("web", "i-1", 999));
        long head = EtcdClients.list(client, PREFIX).revision();
        client.getKVClient().compact(head).get(10, TimeUnit.SECONDS);
        assertEquals(before, agent.state().revision(), "the agent saw nothing while cut off");
        assertEquals(50, agent.publisher().current().instanceCount(), "the last snapshot stays in force while cut off");

        proxy.restore();
        awaitEqualToEtcd(30_000);
        assertEquals(35, agent.publisher().current().instanceCount());
        assertFalse(agent.publisher().current().instances("web").stream().anyMatch(i -> i.id().equals("i-0")), "delete of i-0 seen");
    }

    @Test
    void etcdStoppedMidWatch_lastSnapshotServed_thenReconverges() throws Exception {
        put(PREFIX + "services/web", service("web"));
        put(PREFIX + "instances/web/a", instance("web", "a", 1));
        awaitEqualToEtcd(10_000);
        ClusterSnapshot held = agent.publisher().current();

        etcd.stop();
        Thread.sleep(2_000);
        assertEquals(held, agent.publisher().current(), "the same snapshot object stays published");
        HttpClient http = HttpClient.newHttpClient();
        URI base = URI.create("http://127.0.0.1:" + agent.adminAddress().getPort());
        HttpResponse<byte[]> snap = http.send(HttpRequest.newBuilder(base.resolve("/v1/snapshot")).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, snap.statusCode());
        assertEquals(1, JsonCodec.decodeSnapshot(snap.body()).instanceCount());
        HttpResponse<String> reg = http.send(HttpRequest.newBuilder(base.resolve("/v1/instances"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"service\":\"web\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":80}]}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(503, reg.statusCode(), "a registration while etcd is down fails fast: " + reg.body());

        etcd.start();
        put(PREFIX + "instances/web/b", instance("web", "b", 2));
        awaitEqualToEtcd(30_000);
        assertEquals(2, agent.publisher().current().instanceCount());
    }

    @Test
    void startupListing_largerThanOnePage_readAsOneConsistentCut() throws Exception {
        Semaphore inFlight = new Semaphore(256);
        List<CompletableFuture<?>> all = new ArrayList<>();
        for (int n = 0; n < 4_500; n++) {
            inFlight.acquire();
            all.add(client.getKVClient().put(bs(PREFIX + "instances/big/i-" + n), EtcdClients.bs(instance("big", "i-" + n, n)))
                    .whenComplete((r, t) -> inFlight.release()));
        }
        CompletableFuture.allOf(all.toArray(new CompletableFuture[0])).get(120, TimeUnit.SECONDS);
        try (Agent fresh = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--etcd-endpoints", etcd.endpoint().toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--state-dir", Files.createTempDirectory("agent-state").toString()}))) {
            Await.until("fresh agent loaded", 20_000, () -> fresh.state().loaded());
            EtcdClients.Listing want = EtcdClients.list(client, PREFIX);
            Await.until("fresh agent at etcd's revision", 10_000, () -> fresh.state().revision() >= want.revision());
            assertEquals(parsedWithoutNodes(want.values()), withoutNodeKeys(fresh.state().acceptedValues()));
            assertEquals(4_500, want.values().keySet().stream().filter(k -> k.startsWith(PREFIX + "instances/")).count(),
                    "the instances (the listing also holds the agents' nodes/ key)");
        }
    }
}
