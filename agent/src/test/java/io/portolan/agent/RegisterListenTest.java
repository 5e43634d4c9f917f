package io.portolan.agent;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The registration listener a container reaches on its bridge ({@code --register-listen}): what an
 * instance registered through it may claim, and who may refresh or remove it. Containers are
 * stood in for by distinct loopback source addresses (127.0.0.31, 127.0.0.32), bound by the client.
 */
class RegisterListenTest {
    static final InetAddress ADVERTISE = Validate.address("test", "10.213.0.1"); // never contacted: only stored
    static Agent agent;
    static InetSocketAddress registerAt;
    static InetSocketAddress adminAt;

    @BeforeAll
    static void up() throws Exception {
        agent = Agent.start(AgentConfig.parse(new String[]{"--dataplane", "none", "--state-dir", Files.createTempDirectory("reg-listen").toString(),
                "--admin-listen", "127.0.0.1:0", "--register-listen", "127.0.0.20:0", "--advertise-address", "10.213.0.1",
                "--dns-listen", "none", "--node", "host1"}));
        Await.until("loaded", 5_000, () -> agent.state().loaded());
        registerAt = agent.registerAddresses().get(0);
        adminAt = agent.adminAddress();
    }

    @AfterAll
    static void down() {
        agent.close();
    }

    record Reply(int status, String body) {
    }

    /** One HTTP/1.1 request from {@code source} (a loopback address standing for a container). */
    static Reply http(String source, InetSocketAddress to, String method, String path, String body) throws IOException {
        byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(Validate.address("source", source), 0));
            s.connect(to, 5_000);
            s.setSoTimeout(5_000);
            OutputStream out = s.getOutputStream();
            out.write((method + " " + path + " HTTP/1.1\r\nHost: agent\r\nContent-Length: " + b.length + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            InputStream in = s.getInputStream();
            String all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            int status = Integer.parseInt(all.substring(9, 12));
            int sep = all.indexOf("\r\n\r\n");
            return new Reply(status, sep < 0 ? "" : all.substring(sep + 4));
        }
    }

    static Instance instance(String service, String id) {
        return agent.publisher().current().instances(service).stream().filter(i -> i.id().equals(id)).findFirst().orElse(null);
    }

    @Test
    void container_registersWithoutAddress_getsItsSourceAddress_andOnlyItCanRemoveIt() throws Exception {
        Reply r = http("127.0.0.31", registerAt, "POST", "/v1/instances",
                "{\"service\":\"own\",\"id\":\"c31\",\"ports\":[{\"name\":\"http\",\"port\":8080}],\"ttl\":30}");
        assertEquals(201, r.status(), r.body());
        Await.until("registered", 5_000, () -> instance("own", "c31") != null);
        Instance i = instance("own", "c31");
        assertEquals("127.0.0.31", i.address().getHostAddress());
        assertEquals("host1", i.node());

        ClusterSnapshot before = agent.publisher().current();
        for (String[] req : List.of(new String[]{"DELETE", "/v1/instances/own/c31"}, new String[]{"PUT", "/v1/instances/own/c31/heartbeat"})) {
            Reply other = http("127.0.0.32", registerAt, req[0], req[1], null);
            assertEquals(403, other.status(), other.body());
            assertTrue(other.body().contains("127.0.0.31") && other.body().contains("127.0.0.32"), other.body());
        }
        Reply hijack = http("127.0.0.32", registerAt, "POST", "/v1/instances",
                "{\"service\":\"own\",\"id\":\"c31\",\"ports\":[{\"name\":\"http\",\"port\":8080}],\"ttl\":30}");
        assertEquals(403, hijack.status(), hijack.body());
        assertTrue(hijack.body().contains("'c31'"), hijack.body());
        assertEquals(before, agent.publisher().current(), "nothing changed");

        assertEquals(200, http("127.0.0.31", registerAt, "PUT", "/v1/instances/own/c31/heartbeat", null).status());
        assertEquals(200, http("127.0.0.31", registerAt, "DELETE", "/v1/instances/own/c31", null).status());
        Await.until("gone", 5_000, () -> instance("own", "c31") == null);
    }

    @Test
    void container_withHostPorts_storedAtTheAdvertiseAddressAndHostPort_serviceKeepsItsPort() throws Exception {
        Reply r = http("127.0.0.33", registerAt, "POST", "/v1/instances",
                "{\"service\":\"mapped\",\"id\":\"m1\",\"ports\":[{\"name\":\"http\",\"port\":8080}],"
                        + "\"hostPorts\":[{\"name\":\"http\",\"port\":32768}],\"ttl\":30}");
        assertEquals(201, r.status(), r.body());
        Await.until("registered", 5_000, () -> instance("mapped", "m1") != null);
        Instance i = instance("mapped", "m1");
        assertEquals(ADVERTISE, i.address());
        assertEquals(List.of(new Port("http", 32768, null)), i.ports());
        Service s = agent.publisher().current().service("mapped").orElseThrow();
        assertEquals(8080, s.ports().get(0).number());
        assertEquals(32768, i.portFor(s.ports().get(0)).number(), "the VIP's port 8080 reaches the node's 32768");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "another address | {\"service\":\"x\",\"address\":\"127.0.0.99\",\"ports\":[{\"port\":80}]} | '127.0.0.99'",
            "the advertise address without host ports | {\"service\":\"x\",\"address\":\"10.213.0.1\",\"ports\":[{\"port\":80}]} | '10.213.0.1'",
            "a port left unmapped | {\"service\":\"x\",\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"b\",\"port\":81}],\"hostPorts\":[{\"name\":\"a\",\"port\":30080}]} | '10.213.0.1'",
            "another node | {\"service\":\"x\",\"node\":\"host2\",\"ports\":[{\"port\":80}]} | 'host2'",
    })
    void container_claimingWhatIsNotItsOwn_403NamingTheValue_nothingChanges(String what, String body, String named) throws Exception {
        ClusterSnapshot before = agent.publisher().current();
        Reply r = http("127.0.0.34", registerAt, "POST", "/v1/instances", body);
        assertEquals(403, r.status(), what + ": " + r.body());
        assertTrue(r.body().contains(named), r.body());
        assertEquals(before, agent.publisher().current());
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"GET, /v1/snapshot", "GET, /v1/services", "GET, /metrics", "DELETE, /v1/services/own", "GET, /healthz"})
    void registrationListener_servesNothingElse(String method, String path) throws Exception {
        Reply r = http("127.0.0.35", registerAt, method, path, null);
        assertEquals(403, r.status(), r.body());
        assertTrue(r.body().contains(path), r.body());
    }

    @Test
    void cli_registerWithHostPortAndNoAddress_throughTheRegistrationListener() throws Exception {
        try (Cli.Registrant r = new Cli.Registrant("register", "--agent", "http://127.0.0.20:" + registerAt.getPort(), "--service", "cli",
                "--id", "k1", "--port", "http:8080", "--host-port", "http:32769")) {
            assertEquals("k1", r.awaitRegistered());
            Await.until("visible", 5_000, () -> instance("cli", "k1") != null);
            assertEquals(ADVERTISE, instance("cli", "k1").address());
            assertEquals(32769, instance("cli", "k1").ports().get(0).number());
        }
    }

    @Test
    void afterAnAgentRestart_theSameContainerTakesItsInstanceBack_anotherCannot() throws Exception {
        java.nio.file.Path state = Files.createTempDirectory("reg-restart");
        String[] flags = {"--state-dir", state.toString(), "--admin-listen", "127.0.0.1:0", "--register-listen", "127.0.0.21:0",
                "--advertise-address", "10.213.0.1", "--dns-listen", "none", "--node", "host1", "--dataplane", "none"};
        String body = "{\"service\":\"again\",\"id\":\"a1\",\"ports\":[{\"name\":\"http\",\"port\":8080}],\"ttl\":60}";
        try (Agent first = Agent.start(AgentConfig.parse(flags))) {
            Await.until("loaded", 5_000, () -> first.state().loaded());
            assertEquals(201, http("127.0.0.41", first.registerAddresses().get(0), "POST", "/v1/instances", body).status());
        }
        try (Agent second = Agent.start(AgentConfig.parse(flags))) {
            Await.until("restored", 5_000, () -> second.publisher().current().instances("again").size() == 1);
            InetSocketAddress at = second.registerAddresses().get(0);
            assertEquals(404, http("127.0.0.41", at, "PUT", "/v1/instances/again/a1/heartbeat", null).status(), "unknown since the restart");
            Reply other = http("127.0.0.42", at, "POST", "/v1/instances", body);
            assertEquals(403, other.status(), other.body());
            assertEquals(201, http("127.0.0.41", at, "POST", "/v1/instances", body).status(), "the same container registers again");
            assertEquals(200, http("127.0.0.41", at, "PUT", "/v1/instances/again/a1/heartbeat", null).status());
        }
    }

    @Test
    void snapshot_listsThisNodeWithItsAdvertiseAddress() throws Exception {
        Await.until("announced", 5_000, () -> agent.publisher().current().nodes().containsKey("host1"));
        assertEquals(ADVERTISE, agent.publisher().current().nodes().get("host1").address());
        Reply r = http("127.0.0.1", adminAt, "GET", "/v1/snapshot", null);
        assertTrue(r.body().contains("\"nodes\":[{\"name\":\"host1\",\"address\":\"10.213.0.1\"}]"), r.body());
    }

    @Test
    void admin_overLoopbackWithoutAddress_getsTheAdvertiseAddress() throws Exception {
        Reply r = http("127.0.0.1", adminAt, "POST", "/v1/instances",
                "{\"service\":\"local\",\"id\":\"l1\",\"ports\":[{\"port\":9000}],\"ttl\":30}");
        assertEquals(201, r.status(), r.body());
        assertTrue(r.body().contains("\"address\":\"10.213.0.1\""), "the reply names the address stored: " + r.body());
        Await.until("registered", 5_000, () -> instance("local", "l1") != null);
        assertEquals(ADVERTISE, instance("local", "l1").address());
    }

    @Test
    void admin_wrongMethod_405() throws Exception {
        Reply r = http("127.0.0.1", adminAt, "PUT", "/v1/snapshot", "{}");
        assertEquals(405, r.status(), r.body());
        assertTrue(r.body().contains("GET"), r.body());
    }
}
