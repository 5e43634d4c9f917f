package io.portolan.agent.importer.dubbo;

import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.PutOption;
import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.agent.testing.LogCapture;
import io.portolan.agent.testing.TcpProxy;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static io.portolan.agent.testing.EtcdClients.bs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --import dubbo} against a real etcd, with keys written exactly as Apache Dubbo's etcd3 registry writes them:
 * the URLs and the application-level JSON below are what Dubbo 3.2.19 with dubbo-registry-etcd3 3.2.0 wrote in a probe
 * on this machine (the provider of agent/src/test/dubbo), and what Dubbo 2.7.23's provider URL carries
 * (anyhost, metadata-type, pid, release=2.7.23...); keys are {@code URLEncoder.encode} of the interface and of
 * {@code URL.toFullString()}, as Dubbo's {@code URL.encode}; values are a lease id under that lease, or a hash.
 */
class DubboImportTest {
    static final String GREETING = "io.portolan.demo.GreetingService";
    static final String DEMO = "org.apache.dubbo.demo.DemoService";

    EtcdServer etcd;
    TcpProxy proxy;
    Client client;
    Agent agent;
    LogCapture log;
    int dnsPort;
    long lease;

    @BeforeEach
    void up() throws Exception {
        log = new LogCapture();
        etcd = new EtcdServer();
        proxy = new TcpProxy(etcd.clientPort());
        client = EtcdClients.client(etcd.endpoint());
        lease = client.getLeaseClient().grant(300).get(10, TimeUnit.SECONDS).getID();
        dnsPort = EtcdServer.freePort();
        agent = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--etcd-endpoints", "http://127.0.0.1:" + proxy.port(), "--import", "dubbo",
                "--node", "host-a", "--advertise-address", "10.20.0.5", "--admin-listen", "127.0.0.1:0",
                "--dns-listen", "127.0.0.1:" + dnsPort, "--vip-cidr", "10.99.0.0/16", "--etcd-timeout", "1s",
                "--state-dir", Files.createTempDirectory("dubbo-import").toString()}));
        Await.until("agent loaded", 15_000, () -> agent.state().loaded());
    }

    @AfterEach
    void down() throws Exception {
        try {
            if (agent != null) {
                agent.close();
            }
            client.close();
            proxy.close();
            etcd.close();
        } finally {
            log.close();
        }
    }

    // ------------------------------------------------------------------ Dubbo's keys

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8); // Dubbo's URL.encode
    }

    /** What Dubbo 3.2.19 registers (copied from the probe's etcd, host, port, protocol and weight varied). */
    static String url32(String protocol, String host, int port, String app, int weight) {
        return protocol + "://" + host + ":" + port + "/" + GREETING + "?application=" + app + "&deprecated=false&dubbo=2.0.2"
                + "&dynamic=true&generic=false&group=demo&interface=" + GREETING + "&methods=greet"
                + "&prefer.serialization=fastjson2,hessian2&release=3.2.19&revision=1.0.0&service-name-mapping=true&side=provider"
                + "&timestamp=1796546662189&version=1.0.0&weight=" + weight;
    }

    /** What Dubbo 2.7.23 registers for org.apache.dubbo.demo.DemoService (its demo), with optional extra parameters. */
    static String url27(String iface, String host, int port, String app, String extra) {
        Map<String, String> p = new TreeMap<>(Map.of("anyhost", "true", "application", app, "deprecated", "false", "dubbo", "2.0.2",
                "dynamic", "true", "generic", "false", "interface", iface, "metadata-type", "remote", "methods", "sayHello,sayHelloAsync",
                "pid", "4242"));
        p.put("release", "2.7.23");
        p.put("side", "provider");
        p.put("timestamp", "1700000000000");
        if (!extra.isEmpty()) {
            for (String kv : extra.split("&")) {
                p.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
            }
        }
        StringBuilder b = new StringBuilder("dubbo://" + host + ":" + port + "/" + iface);
        char sep = '?';
        for (Map.Entry<String, String> e : p.entrySet()) { // URL.toFullString: parameters sorted by key
            b.append(sep).append(e.getKey()).append('=').append(e.getValue());
            sep = '&';
        }
        return b.toString();
    }

    static String providerKey(String iface, String url) {
        return "/dubbo/" + enc(iface) + "/providers/" + enc(url);
    }

    /** Dubbo 3.2.19's application-level instance (copied from the probe; a second endpoint added as Dubbo lists them). */
    static String instanceJson(String app, String host, int port, String endpoints, boolean healthy) {
        return "{\"serviceName\":\"" + app + "\",\"host\":\"" + host + "\",\"port\":" + port + ",\"enabled\":true,\"healthy\":" + healthy
                + ",\"metadata\":{\"dubbo.metadata-service.url-params\":\"{\\\"prefer.serialization\\\":\\\"fastjson2,hessian2\\\","
                + "\\\"version\\\":\\\"1.0.0\\\",\\\"dubbo\\\":\\\"2.0.2\\\",\\\"release\\\":\\\"3.2.19\\\",\\\"side\\\":\\\"provider\\\","
                + "\\\"port\\\":\\\"" + port + "\\\",\\\"protocol\\\":\\\"dubbo\\\"}\",\"dubbo.endpoints\":\"" + endpoints.replace("\"", "\\\"")
                + "\",\"dubbo.metadata.revision\":\"ee9bb2b68a315c47a2eb6a3b5a51a791\",\"timestamp\":\"1796546849186\"}}";
    }

    /** An ephemeral key as Dubbo's JEtcdClientWrapper#createEphemeral puts it: the lease id as the value, under that lease. */
    void putEphemeral(String key) throws Exception {
        client.getKVClient().put(bs(key), bs(Long.toString(lease)), PutOption.builder().withLeaseId(lease).build()).get(10, TimeUnit.SECONDS);
    }

    void put(String key, String value) throws Exception {
        client.getKVClient().put(bs(key), bs(value)).get(10, TimeUnit.SECONDS);
    }

    void putUnderLease(String key, String value) throws Exception {
        client.getKVClient().put(bs(key), bs(value), PutOption.builder().withLeaseId(lease).build()).get(10, TimeUnit.SECONDS);
    }

    /** A persistent key as JEtcdClientWrapper#createPersistent puts it: the path's hashCode as the value. */
    void putPersistent(String key) throws Exception {
        put(key, Integer.toString(key.hashCode()));
    }

    void delete(String key) throws Exception {
        client.getKVClient().delete(bs(key)).get(10, TimeUnit.SECONDS);
    }

    // ------------------------------------------------------------------ reading the agent

    ClusterSnapshot snap() {
        return agent.publisher().current();
    }

    /** id -> instance of a service in the current snapshot. */
    Map<String, Instance> instances(String service) {
        Map<String, Instance> m = new LinkedHashMap<>();
        for (Instance i : snap().instances(service)) {
            m.put(i.id(), i);
        }
        return m;
    }

    void awaitIds(String service, List<String> ids) throws InterruptedException {
        Await.until(service + " has instances " + ids + " (now " + instances(service).keySet() + ")", 15_000,
                () -> new ArrayList<>(instances(service).keySet()).equals(ids));
    }

    List<String> dig(String type, String name) throws Exception {
        Process p = new ProcessBuilder("dig", "+short", "+tries=1", "+time=2", "-p", Integer.toString(dnsPort), "@127.0.0.1", name, type)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return out.lines().map(String::trim).filter(l -> !l.isEmpty()).sorted().toList();
    }

    // ------------------------------------------------------------------ tests

    @Test
    void interfaceLevelKeys_ofDubbo27And32_becomeOneVipServicePerApplication_andGoWithTheirLastKey() throws Exception {
        String k1 = providerKey(DEMO, url27(DEMO, "10.20.0.5", 20880, "demo-provider", ""));
        String k2 = providerKey(GREETING, url27(GREETING, "10.20.0.5", 20880, "demo-provider", "group=greeting&version=1.0.0&weight=200"));
        String k3 = providerKey(GREETING, url32("tri", "10.20.0.5", 50051, "demo-provider", 150));
        String k4 = providerKey(GREETING, url32("dubbo", "10.20.0.7", 20880, "demo-provider", 50));
        // what else Dubbo keeps under its root: directories (hash values), a consumer, configurators: not providers
        putPersistent("/dubbo/" + enc(GREETING));
        putPersistent("/dubbo/" + enc(GREETING) + "/providers");
        putPersistent("/dubbo/" + enc(GREETING) + "/configurators");
        putEphemeral("/dubbo/" + enc(GREETING) + "/consumers/" + enc("consumer://10.20.0.9/" + GREETING
                + "?application=demo-consumer&category=consumers&check=false&dubbo=2.0.2&interface=" + GREETING + "&side=consumer"));
        putPersistent("/dubbo");
        for (String k : List.of(k1, k2, k3, k4)) {
            putEphemeral(k);
        }

        awaitIds("demo-provider", List.of("dubbo-10.20.0.5-20880-dubbo", "dubbo-10.20.0.5-50051-tri", "dubbo-10.20.0.7-20880-dubbo"));
        Await.until("service defined with a VIP and both ports", 15_000, () -> snap().service("demo-provider")
                .map(s -> s.vip() != null && DubboImporter.hasPorts(s, java.util.Set.of("dubbo", "tri"))).orElse(false));
        Service svc = snap().service("demo-provider").orElseThrow();
        assertEquals(Mode.VIP, svc.mode());
        assertEquals(List.of(new Port("dubbo", 20880, Protocol.TCP), new Port("tri", 50051, Protocol.TCP)),
                svc.ports().stream().sorted(java.util.Comparator.comparing(Port::name)).toList());

        Map<String, Instance> m = instances("demo-provider");
        Instance a = m.get("dubbo-10.20.0.5-20880-dubbo");
        assertEquals(List.of(new Port("dubbo", 20880, Protocol.TCP)), a.ports());
        assertEquals(200, a.weight(), "the highest weight of the instance's interface keys");
        assertEquals("host-a", a.node(), "the agent whose advertise address is the instance's");
        assertEquals(Map.of("dubbo.application", "demo-provider", "dubbo.registry", "interface",
                "dubbo.interfaces", GREETING + "," + DEMO, "dubbo.version", "1.0.0", "dubbo.group", "greeting"), a.metadata());
        Instance t = m.get("dubbo-10.20.0.5-50051-tri");
        assertEquals(List.of(new Port("tri", 50051, Protocol.TCP)), t.ports());
        assertEquals(150, t.weight());
        assertEquals("demo", t.metadata().get("dubbo.group"));
        Instance b = m.get("dubbo-10.20.0.7-20880-dubbo");
        assertEquals(50, b.weight());
        assertEquals(DubboImporter.NODE, b.node(), "no agent has that address");
        assertEquals(Health.HEALTHY, b.health());

        // DNS sees them as any instance: the VIP, SRV records named after the protocols, tasks.
        String vip = svc.vip().getHostAddress();
        Await.until("DNS answers", 10_000, () -> {
            try {
                return dig("A", "demo-provider.portolan.internal").equals(List.of(vip));
            } catch (Exception e) {
                return false;
            }
        });
        assertEquals(List.of("0 0 20880 demo-provider.portolan.internal."), dig("SRV", "_dubbo._tcp.demo-provider.portolan.internal"));
        assertEquals(List.of("0 0 50051 demo-provider.portolan.internal."), dig("SRV", "_tri._tcp.demo-provider.portolan.internal"));
        assertEquals(List.of("10.20.0.5", "10.20.0.7"), dig("A", "tasks.demo-provider.portolan.internal"));

        // an operator deletes the service while Dubbo's keys remain: the agent defines it again
        java.net.http.HttpResponse<String> del = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + agent.adminAddress().getPort() + "/v1/services/demo-provider")).DELETE().build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(200, del.statusCode(), del.body());
        // The snapshot learns of the deletion through the watch, after the answer: a look before that still shows the
        // service as it was. Wait for a snapshot at or past the deletion's revision, then for the service in it.
        long deletedBy = EtcdClients.list(client, "/portolan/").revision();
        Await.until("the deletion seen, then the service defined again with both ports", 15_000, () -> snap().revision() >= deletedBy
                && snap().service("demo-provider").map(s -> s.vip() != null && DubboImporter.hasPorts(s, java.util.Set.of("dubbo", "tri")))
                .orElse(false));

        // an instance stays while any of its interfaces' keys stays
        delete(k1);
        Await.until("DemoService gone from the metadata", 10_000,
                () -> GREETING.equals(instances("demo-provider").get("dubbo-10.20.0.5-20880-dubbo").metadata().get("dubbo.interfaces")));
        delete(k2);
        awaitIds("demo-provider", List.of("dubbo-10.20.0.5-50051-tri", "dubbo-10.20.0.7-20880-dubbo"));
        // Dubbo's lease ends (a provider gone): the rest go; the service definition stays, like any service's
        client.getLeaseClient().revoke(lease).get(10, TimeUnit.SECONDS);
        awaitIds("demo-provider", List.of());
        assertTrue(snap().service("demo-provider").isPresent());

        // read only: nothing under Dubbo's keys but what the test wrote; no instance under portolan's prefix
        assertEquals(List.of("/dubbo", "/dubbo/" + enc(GREETING), "/dubbo/" + enc(GREETING) + "/configurators",
                "/dubbo/" + enc(GREETING) + "/providers"), new ArrayList<>(EtcdClients.list(client, "/dubbo").values().keySet()));
        assertTrue(EtcdClients.list(client, "/services/").values().isEmpty());
        assertTrue(EtcdClients.list(client, "/portolan/instances/").values().isEmpty());
        assertTrue(log.lines("skipping Dubbo key").isEmpty(), "Dubbo's other keys pass without a warning: " + log.lines("skipping Dubbo key"));
    }

    @Test
    void applicationLevelKeys_ofDubbo32_mergeWithInterfaceLevel_andABadRewriteLosesNothing() throws Exception {
        String endpoints = "[{\"port\":20880,\"protocol\":\"dubbo\"},{\"port\":50051,\"protocol\":\"tri\"}]";
        String app1 = "/services/demo-provider/10.20.0.6:20880";
        String app2 = "/services/demo-provider/10.20.0.8:20880";
        putPersistent("/services/demo-provider"); // EtcdServiceDiscovery#registerServiceWatcher creates it
        putUnderLease(app1, instanceJson("demo-provider", "10.20.0.6", 20880, endpoints, true));
        putUnderLease(app2, instanceJson("demo-provider", "10.20.0.8", 20880, "[{\"port\":20880,\"protocol\":\"dubbo\"}]", false));
        String k = providerKey(GREETING, url32("dubbo", "10.20.0.6", 20880, "demo-provider", 150));
        putEphemeral(k);

        awaitIds("demo-provider", List.of("dubbo-10.20.0.6-20880-dubbo", "dubbo-10.20.0.6-50051-tri", "dubbo-10.20.0.8-20880-dubbo"));
        Await.until("both levels name 10.20.0.6:20880", 10_000, // two watches: either may come first
                () -> "application,interface".equals(instances("demo-provider").get("dubbo-10.20.0.6-20880-dubbo").metadata().get("dubbo.registry")));
        Map<String, Instance> m = instances("demo-provider");
        Instance both = m.get("dubbo-10.20.0.6-20880-dubbo");
        assertEquals("application,interface", both.metadata().get("dubbo.registry"));
        assertEquals(150, both.weight(), "the interface-level weight");
        assertEquals(GREETING, both.metadata().get("dubbo.interfaces"));
        Instance tri = m.get("dubbo-10.20.0.6-50051-tri");
        assertEquals(List.of(new Port("tri", 50051, Protocol.TCP)), tri.ports());
        assertEquals("application", tri.metadata().get("dubbo.registry"));
        assertEquals(100, tri.weight());
        assertEquals(Health.UNHEALTHY, m.get("dubbo-10.20.0.8-20880-dubbo").health(), "healthy=false");
        Await.until("service with both ports", 15_000, () -> snap().service("demo-provider")
                .map(s -> DubboImporter.hasPorts(s, java.util.Set.of("dubbo", "tri"))).orElse(false));
        assertFalse(snap().servingInstances("demo-provider").stream().anyMatch(i -> i.address().getHostAddress().equals("10.20.0.8")));

        // a bad rewrite of an application-level key: warned, and what it held stays
        put(app2, "{\"serviceName\":\"demo-provider\",\"host\":");
        Await.until("warning", 10_000, () -> !log.lines("skipping Dubbo key " + app2 + ": the value is not JSON").isEmpty());
        assertTrue(log.lines("skipping Dubbo key " + app2).get(0).contains("what it held before stays in force"));
        assertTrue(instances("demo-provider").containsKey("dubbo-10.20.0.8-20880-dubbo"));

        // the application-level key goes: its tri endpoint goes, the dubbo one stays while the interface key does
        delete(app1);
        awaitIds("demo-provider", List.of("dubbo-10.20.0.6-20880-dubbo", "dubbo-10.20.0.8-20880-dubbo"));
        assertEquals("interface", instances("demo-provider").get("dubbo-10.20.0.6-20880-dubbo").metadata().get("dubbo.registry"));
        delete(k);
        delete(app2);
        awaitIds("demo-provider", List.of());
    }

    @Test
    void compactionWhileCutOff_isRecoveredByRelistAndDiff() throws Exception {
        List<String> keys = new ArrayList<>();
        for (int n = 1; n <= 10; n++) {
            String k = providerKey(GREETING, url32("dubbo", "10.20.1." + n, 20880, "demo-provider", 100));
            keys.add(k);
            putEphemeral(k);
        }
        putUnderLease("/services/demo-provider/10.20.1.50:20880",
                instanceJson("demo-provider", "10.20.1.50", 20880, "[{\"port\":20880,\"protocol\":\"dubbo\"}]", true));
        Await.until("11 instances", 15_000, () -> instances("demo-provider").size() == 11);
        ClusterSnapshot held = snap();

        proxy.cut();
        for (int n = 1; n <= 10; n += 2) {
            delete(keys.get(n - 1));
        }
        delete("/services/demo-provider/10.20.1.50:20880");
        for (int n = 11; n <= 13; n++) {
            putEphemeral(providerKey(GREETING, url32("dubbo", "10.20.1." + n, 20880, "demo-provider", 100)));
        }
        putUnderLease("/services/other-app/10.20.1.60:20880",
                instanceJson("other-app", "10.20.1.60", 20880, "[{\"port\":20880,\"protocol\":\"dubbo\"}]", true));
        long head = EtcdClients.list(client, "/").revision();
        client.getKVClient().compact(head).get(10, TimeUnit.SECONDS);
        Thread.sleep(500);
        assertEquals(held.instances("demo-provider"), snap().instances("demo-provider"), "nothing seen while cut off; the last snapshot stays");

        proxy.restore();
        List<String> want = new ArrayList<>();
        for (int n : new int[] {10, 11, 12, 13, 2, 4, 6, 8}) {
            want.add("dubbo-10.20.1." + n + "-20880-dubbo");
        }
        want.sort(null);
        awaitIds("demo-provider", want);
        awaitIds("other-app", List.of("dubbo-10.20.1.60-20880-dubbo"));
        Await.until("re-listed after the compaction", 5_000, () -> !log.lines("deleted while unwatched").isEmpty());
    }

    @Test
    void badKeys_skippedWithAWarningNamingTheKey_neverThePassword_andTheRestServed() throws Exception {
        String good = providerKey(GREETING, url32("dubbo", "10.20.2.10", 20880, "demo-provider", 100));
        String undecodable = "/dubbo/" + enc(GREETING) + "/providers/dubbo%3A%2F%2F10.20.2.1%3A20880%2F" + GREETING + "%3Fapplication%3Ddemo-provider%ZZ";
        String secret = "s3cr3t-pw";
        String withPassword = providerKey(GREETING, url32("dubbo", "admin:" + secret + "@10.20.2.2", 20880, "demo-provider", 100));
        String withPasswordUndecodable = "/dubbo/" + enc(GREETING) + "/providers/dubbo%3A%2F%2Fadmin%3A" + secret + "%40" + "10.20.2.3%3A20880%2Fx%ZZ";
        String port0 = providerKey(GREETING, url32("dubbo", "10.20.2.4", 0, "demo-provider", 100));
        String port70000 = providerKey(GREETING, url32("dubbo", "10.20.2.5", 70000, "demo-provider", 100));
        String badApp = providerKey(GREETING, url32("dubbo", "10.20.2.6", 20880, "_demo_", 100));
        String hostname = providerKey(GREETING, url32("dubbo", "provider.example", 20880, "demo-provider", 100));
        String badJson = "/services/demo-provider/10.20.2.9:20880";
        String otherHost = "/services/demo-provider/10.20.2.11:20880";
        for (String k : List.of(undecodable, withPassword, withPasswordUndecodable, port0, port70000, badApp, hostname, good)) {
            putEphemeral(k);
        }
        putUnderLease(badJson, "{\"serviceName\":\"demo-provider\",");
        putUnderLease(otherHost, instanceJson("demo-provider", "10.20.2.12", 20880, "[{\"port\":20880,\"protocol\":\"dubbo\"}]", true));

        awaitIds("demo-provider", List.of("dubbo-10.20.2.10-20880-dubbo"));
        Await.until("nine warnings", 10_000, () -> log.lines("skipping Dubbo key").size() >= 9);
        assertEquals(9, log.lines("skipping Dubbo key").size(), String.join("\n", log.lines("skipping Dubbo key")));
        assertWarned(undecodable, "does not URL-decode");
        assertWarned(port0, "port 0 is not 1-65535");
        assertWarned(port70000, "port 70000 is not 1-65535");
        assertWarned(badApp, "application '_demo_' maps to '-demo-', which is not a service name");
        assertWarned(hostname, "host 'provider.example' is not a usable IP address");
        assertWarned(badJson, "the value is not JSON");
        assertWarned(otherHost, "host:port 10.20.2.12:20880 is not the key's '10.20.2.11:20880'");
        String shown = DubboKeys.display(withPassword);
        assertTrue(shown.contains("admin%3A***") || shown.contains("***%40"), shown);
        assertFalse(shown.contains(secret));
        assertWarned(withPassword, "carries credentials");
        assertWarned(withPasswordUndecodable, "does not URL-decode");
        assertFalse(log.text().contains(secret), "the password is never logged");
        assertTrue(log.text().contains("/dubbo/" + enc(GREETING) + "/providers/dubbo%3A%2F%2F***%4010.20.2.2%3A20880"),
                "the key is named, its credentials replaced");

        // everything else is served, and a later good key too
        String later = providerKey(GREETING, url32("dubbo", "10.20.2.13", 20880, "demo-provider", 100));
        putEphemeral(later);
        awaitIds("demo-provider", List.of("dubbo-10.20.2.10-20880-dubbo", "dubbo-10.20.2.13-20880-dubbo"));
        Await.until("served with a VIP", 15_000, () -> snap().service("demo-provider").map(s -> s.vip() != null).orElse(false));
        assertEquals(2, snap().servingInstances("demo-provider").size());
    }

    void assertWarned(String key, String why) {
        List<String> lines = log.lines("skipping Dubbo key " + DubboKeys.display(key) + ": ");
        assertEquals(1, lines.size(), "one warning naming " + DubboKeys.display(key) + "; all: " + log.lines("skipping Dubbo key"));
        assertTrue(lines.get(0).contains(why), lines.get(0));
        assertNotNull(lines.get(0));
    }
}
