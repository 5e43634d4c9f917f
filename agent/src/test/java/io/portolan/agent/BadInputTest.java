package io.portolan.agent;

import io.etcd.jetcd.Client;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.ClusterSnapshot;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.concurrent.TimeUnit;

import static io.portolan.agent.testing.EtcdClients.bs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input through every door gets a clear error naming the value and changes nothing. */
class BadInputTest {
    static EtcdServer etcd;
    static Agent agent;
    static String agentUrl;
    static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void up() throws Exception {
        etcd = new EtcdServer();
        agent = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--etcd-endpoints", etcd.endpoint().toString(), "--admin-listen", "127.0.0.1:0", "--dns-listen", "none",
                "--state-dir", Files.createTempDirectory("s").toString()}));
        agentUrl = "http://127.0.0.1:" + agent.adminAddress().getPort();
        Await.until("loaded", 10_000, () -> agent.state().loaded());
        HttpResponse<String> ok = post("{\"service\":\"web\",\"id\":\"good\",\"address\":\"10.0.0.1\",\"ports\":[{\"port\":80}],\"ttl\":60}");
        assertEquals(201, ok.statusCode(), ok.body());
        Await.until("good instance", 2_000, () -> agent.publisher().current().instanceCount() == 1);
    }

    @AfterAll
    static void down() throws Exception {
        agent.close();
        etcd.close();
    }

    static HttpResponse<String> post(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(agentUrl + "/v1/instances")).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    record Run(int code, String err) {
    }

    static Run cli(String line) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            String[] args = line.replace("AGENT", agentUrl).replace("ETCD", etcd.endpoint().toString()).split(" ");
            return new Run(Main.run(args), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(old);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "register --agent AGENT --service Web --address 10.0.0.9 --port 80 | 'Web'",
            "register --agent AGENT --service web_1 --address 10.0.0.9 --port 80 | 'web_1'",
            "register --agent AGENT --service web --address 10.0.0.256 --port 80 | '10.0.0.256'",
            "register --agent AGENT --service web --address db.local --port 80 | 'db.local'",
            "register --agent AGENT --service web --address 0.0.0.0 --port 80 | '0.0.0.0'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 0 | '0'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 65536 | '65536'",
            "register --agent AGENT --service web --address 10.0.0.9 --port http:80/sctp | 'http:80/sctp'",
            "register --agent AGENT --service web --address 10.0.0.9 | --port",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --ttl 1 | '1'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --ttl soon | 'soon'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --weight 10001 | '10001'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --mode roundrobin | 'roundrobin'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --id a/b | 'a/b'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --meta novalue | 'novalue'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --colour red | '--colour'",
            "register --agent ftp://x:1 --service web --address 10.0.0.9 --port 80 | 'ftp://x:1'",
            "register --etcd-endpoints ETCD --service web --address 10.0.0.9 --port 80 --vip-cidr 10.0.0.0/33 | '10.0.0.0/33'",
            "register --agent AGENT --service web --mode dnsrr --address 10.0.0.9 --port 80 | 'dnsrr'",
            "deregister --agent AGENT --service web --id ../x | '../x'",
            "agent --admin-listen localhost:80 | 'localhost:80'",
            "agent --vip-cidr 10.0.0.0 | '10.0.0.0'",
            "agent --dataplane magic | 'magic'",
            "agent --dns-udp-io epoll | 'epoll'",
            "agent --lb-tcp-io io_uring | 'io_uring'",
            "agent --etcd-endpoints 127.0.0.1:2379 | '127.0.0.1:2379'",
            "agent --etcd-prefix portolan | 'portolan'",
            "agent --dns-forward-timeout 5 | --dns-forward-timeout '5'",
            "agent --dns-listen none --dns-forward-timeout 5 | --dns-forward-timeout '5'",
            "agent --lb-idle-timeout 5 | --lb-idle-timeout '5'",
            "agent --etcd-timeout 3000 | --etcd-timeout '3000'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --drain 2 | --drain '2'",
            "register --agent AGENT --service web --port http:80 --host-port http | 'http'",
            "register --agent AGENT --service web --port http:80 --host-port db:30080 | 'db:30080'",
            "register --agent AGENT --service web --port http:80 --host-port http:70000 | '70000'",
            "register --etcd-endpoints ETCD --service web --port 80 | --address",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --check http: | 'http:'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --check udp | 'udp'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --check tcp --check-interval -1s | '-1s'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --check tcp --check-interval 5 | --check-interval '5'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --check tcp --check-fall 0 | --check-fall '0'",
            "register --agent AGENT --service web --address 10.0.0.9 --port 80 --check-interval 5s | --check-interval",
            "agent --advertise-address 0.0.0.0 | '0.0.0.0'",
            "agent --register-listen 172.17.0.1 | '172.17.0.1'",
            "services --agent AGENT --verbose | '--verbose'",
    })
    void cli_badInput_exit2_namesValue_changesNothing(String line, String named) {
        ClusterSnapshot before = agent.publisher().current();
        Run r = cli(line);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains(named), "error names " + named + ": " + r.err());
        assertEquals(before, agent.publisher().current(), "nothing changed");
    }

    @org.junit.jupiter.api.Test
    void register_commandNotFound_exit127_namesIt_registersNothing() throws Exception {
        ClusterSnapshot before = agent.publisher().current();
        Run r = cli("register --agent AGENT --service web --address 10.0.0.9 --port 80 -- /nonexistent/app --flag");
        assertEquals(127, r.code(), r.err());
        assertTrue(r.err().contains("cannot run /nonexistent/app"), r.err());
        assertEquals(before, agent.publisher().current(), "nothing registered");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "not json | not JSON",
            "[] | expected a JSON object",
            "{\"service\":\"Web\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":80}]} | 'Web'",
            "{\"service\":\"web\",\"address\":\"::ffff:1.2.3.4\",\"ports\":[{\"port\":80}]} | '::ffff:1.2.3.4'",
            "{\"service\":\"web\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":-5}]} | '-5'",
            "{\"service\":\"web\",\"address\":\"10.0.0.9\",\"ports\":[]} | port",
            "{\"service\":\"web\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":80}],\"ttl\":99999} | '99999'",
            "{\"service\":\"web\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":80}],\"weight\":\"heavy\"} | heavy",
            "{\"service\":\"web\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":80}],\"bogus\":1} | 'bogus'",
            "{\"service\":\"web\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":80}],\"mode\":\"dnsrr\"} | vip mode",
    })
    void api_badInput_400or409_namesValue_changesNothing(String body, String named) throws Exception {
        ClusterSnapshot before = agent.publisher().current();
        HttpResponse<String> r = post(body);
        assertTrue(r.statusCode() == 400 || r.statusCode() == 409, r.statusCode() + " " + r.body());
        assertTrue(r.body().contains(named), "error names " + named + ": " + r.body());
        assertEquals(before, agent.publisher().current());
    }

    @Test
    void garbageInEtcd_skippedWithWarningNamingKey_restServed() throws Exception {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try (Client c = EtcdClients.client(etcd.endpoint())) {
            // Someone else writes under our prefix: garbage, a wrong shape, a foreign key, a key/body mismatch.
            c.getKVClient().put(bs("/portolan/services/junk"), bs("not json at all")).get(5, TimeUnit.SECONDS);
            c.getKVClient().put(bs("/portolan/instances/web/bad"), bs("{\"schema\":1,\"id\":\"bad\",\"service\":\"web\"}")).get(5, TimeUnit.SECONDS);
            c.getKVClient().put(bs("/portolan/instances/web/good"), bs("{\"schema\":1}")).get(5, TimeUnit.SECONDS);
            c.getKVClient().put(bs("/portolan/elsewhere/x"), bs("{}")).get(5, TimeUnit.SECONDS);
            c.getKVClient().put(bs("/portolan/instances/web/other"),
                    bs("{\"schema\":1,\"id\":\"zzz\",\"service\":\"web\",\"node\":\"n\",\"address\":\"10.0.0.5\",\"ports\":[]}")).get(5, TimeUnit.SECONDS);
            // ...then a valid write after them is still applied.
            HttpResponse<String> ok = post("{\"service\":\"web\",\"id\":\"after\",\"address\":\"10.0.0.2\",\"ports\":[{\"port\":80}],\"ttl\":60}");
            assertEquals(201, ok.statusCode(), ok.body());
            Await.until("valid write after garbage applied", 2_000,
                    () -> agent.publisher().current().instances("web").stream().anyMatch(i -> i.id().equals("after")));
            ClusterSnapshot s = agent.publisher().current();
            assertTrue(s.instances("web").stream().anyMatch(i -> i.id().equals("good")), "the overwritten instance keeps its last good value");
            assertTrue(s.service("junk").isEmpty());
            assertEquals(2, s.instances("web").size());
        } finally {
            System.setErr(old);
        }
        String log = err.toString(StandardCharsets.UTF_8);
        for (String key : new String[] {"/portolan/services/junk", "/portolan/instances/web/bad", "/portolan/instances/web/good",
                "/portolan/elsewhere/x", "/portolan/instances/web/other"}) {
            assertTrue(log.contains("skipping registry key " + key), "warning names " + key + ":\n" + log);
        }
    }
}
