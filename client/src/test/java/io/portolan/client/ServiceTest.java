package io.portolan.client;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.URI;
import java.time.Duration;
import java.util.function.Supplier;
import java.util.stream.Stream;

import org.junit.jupiter.params.provider.Arguments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a Service accepts and refuses (the agent's value rules), and the body it becomes. */
class ServiceTest {
    static final Service WEB = Service.named("web").port("http", 8080);

    /** Each bad value, and the text the message must carry (the value itself, quoted). */
    static Stream<Arguments> refused() {
        String long64 = "a".repeat(64);
        return Stream.of(
                bad("service name 'Web'", () -> Service.named("Web")),
                bad("service name ''", () -> Service.named("")),
                bad("service name null", () -> Service.named(null)),
                bad("service name '-web'", () -> Service.named("-web")),
                bad("service name 'web_1'", () -> Service.named("web_1")),
                bad("service name '" + long64 + "'", () -> Service.named(long64)),
                bad("port name 'HTTP'", () -> Service.named("web").port("HTTP", 80)),
                bad("port name 'a-very-long-port-name'", () -> Service.named("web").port("a-very-long-port-name", 80)),
                bad("port http '0'", () -> Service.named("web").port("http", 0)),
                bad("port http '65536'", () -> Service.named("web").port("http", 65_536)),
                bad("port name 'http': given twice for tcp", () -> WEB.port("http", 8081)),
                bad("host port name 'admin': names no port", () -> WEB.hostPort("admin", 32768)),
                bad("host port http '0'", () -> WEB.hostPort("http", 0)),
                bad("host port name 'http': is mapped twice", () -> WEB.hostPort("http", 32768).hostPort("http", 32769)),
                bad("instance id '-1'", () -> WEB.id("-1")),
                bad("instance id 'a b'", () -> WEB.id("a b")),
                bad("instance id 'web/1'", () -> WEB.id("web/1")),
                bad("address 'localhost'", () -> WEB.address("localhost")),
                bad("address 'web.example.com'", () -> WEB.address("web.example.com")),
                bad("address '10.0.0.05'", () -> WEB.address("10.0.0.05")),
                bad("address '10.0.0'", () -> WEB.address("10.0.0")),
                bad("address '10.0.0.256'", () -> WEB.address("10.0.0.256")),
                bad("address '0.0.0.0'", () -> WEB.address("0.0.0.0")),
                bad("address '224.0.0.1'", () -> WEB.address("224.0.0.1")),
                bad("address '255.255.255.255'", () -> WEB.address("255.255.255.255")),
                bad("address '::'", () -> WEB.address("::")),
                bad("address '::ffff:10.0.0.1'", () -> WEB.address("::ffff:10.0.0.1")),
                bad("address 'fe80::1%eth0'", () -> WEB.address("fe80::1%eth0")),
                bad("ttl 'PT1S'", () -> WEB.ttl(Duration.ofSeconds(1))),
                bad("ttl 'PT2.5S'", () -> WEB.ttl(Duration.ofMillis(2_500))),
                bad("ttl 'PT1H0.001S'", () -> WEB.ttl(Duration.ofMillis(3_600_001))),
                bad("ttl 'PT1H1S'", () -> WEB.ttl(Duration.ofSeconds(3_601))),
                bad("ttl null", () -> WEB.ttl(null)),
                bad("weight '-1'", () -> WEB.weight(-1)),
                bad("weight '10001'", () -> WEB.weight(10_001)),
                bad("metadata key 'a b'", () -> WEB.metadata("a b", "x")),
                bad("metadata value of 'k' null", () -> WEB.metadata("k", null)),
                bad("metadata value of 'k' 'xxxx", () -> WEB.metadata("k", "x".repeat(1_025))),
                bad("scheduler 'WRR'", () -> WEB.scheduler("WRR")),
                bad("published port '0'", () -> WEB.publish(0, 8080)),
                bad("agent URL 'ftp://h:1'", () -> Portolan.agent(URI.create("ftp://h:1"))),
                bad("agent URL 'http://127.0.0.1:9190/v1'", () -> Portolan.agent(URI.create("http://127.0.0.1:9190/v1"))),
                bad("service 'web': at least one port", () -> Portolan.agent(URI.create("http://127.0.0.1:1")).register(Service.named("web"))),
                bad("service null", () -> Portolan.agent(URI.create("http://127.0.0.1:1")).register(null)),
                bad("retryFor 'PT-1S'", () -> Portolan.agent(URI.create("http://127.0.0.1:1")).retryFor(Duration.ofSeconds(-1))));
    }

    static Arguments bad(String message, Supplier<Object> call) {
        return Arguments.of(message, call);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refused")
    void badValue_throwsIllegalArgument_namingTheValue(String expected, Supplier<Object> call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::get);
        assertTrue(e.getMessage().startsWith(expected), "'" + e.getMessage() + "' should start with '" + expected + "'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"10.0.0.5", "127.0.0.61", "172.17.0.3", "fd00::5", "2001:db8::1", "::1"})
    void address_literals_accepted(String address) {
        assertTrue(WEB.address(address).toString().contains("\"address\":\""), address);
    }

    @Test
    void metadata_atMost64() {
        Service s = WEB;
        for (int i = 0; i < 64; i++) {
            s = s.metadata("k" + i, "v");
        }
        Service full = s;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> full.metadata("k64", "v"));
        assertTrue(e.getMessage().contains("'k64'") && e.getMessage().contains("64"), e.getMessage());
        assertEquals(full.toString(), full.metadata("k0", "again").toString().replace("\"k0\":\"again\"", "\"k0\":\"v\""),
                "a key given again replaces its value");
    }

    @Test
    void immutable_eachCallReturnsANewService() {
        Service base = Service.named("web").port("http", 8080);
        Service heavier = base.weight(300);
        assertTrue(base.toString().contains("\"weight\":100"), base.toString());
        assertTrue(heavier.toString().contains("\"weight\":300"), heavier.toString());
    }

    @Test
    void json_everyField_asTheAgentReadsIt() {
        Service s = Service.named("web").port("http", 8080).udpPort("http", 8080).port("admin", 9000)
                .hostPort("http", 32768).address("fd00:0:0:0:0:0:0:5").ttl(Duration.ofSeconds(30)).weight(50)
                .metadata("version", "1.2 \"beta\"").metadata("owner/team", "caf\u00e9\n").scheduler("lc").publish(80, 8080).publish(8443, 9000);
        assertEquals("{\"service\":\"web\",\"id\":\"web-1\",\"address\":\"fd00:0:0:0:0:0:0:5\","
                + "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"tcp\"},{\"name\":\"http\",\"port\":8080,\"protocol\":\"udp\"},"
                + "{\"name\":\"admin\",\"port\":9000,\"protocol\":\"tcp\"}],"
                + "\"hostPorts\":[{\"name\":\"http\",\"port\":32768}],\"mode\":\"vip\",\"weight\":50,\"ttl\":30,"
                + "\"metadata\":{\"version\":\"1.2 \\\"beta\\\"\",\"owner/team\":\"caf\\u00e9\\n\"},\"scheduler\":\"lc\","
                + "\"published\":[{\"published\":80,\"target\":8080,\"protocol\":\"tcp\"},{\"published\":8443,\"target\":9000,\"protocol\":\"tcp\"}]}",
                s.json("web-1"));
    }

    @Test
    void json_healthCheck() {
        assertEquals("{\"service\":\"web\",\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"tcp\"}],\"mode\":\"vip\","
                        + "\"weight\":100,\"ttl\":10,\"check\":{\"kind\":\"http\",\"path\":\"/healthz\",\"interval\":\"1500ms\","
                        + "\"timeout\":\"250ms\",\"rise\":2,\"fall\":4,\"startPeriod\":\"30000ms\"}}",
                Service.named("web").port("http", 8080).check("http:/healthz", Duration.ofMillis(1500), Duration.ofMillis(250), 2, 4,
                        Duration.ofSeconds(30)).json(null));
        assertTrue(Service.named("web").port("http", 8080).check("grpc").json(null).contains("\"check\":{\"kind\":\"grpc\",\"interval\":\"5000ms\""));
        for (String bad : new String[]{"http:", "http:healthz", "udp", "http:/a b"}) {
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> Service.named("web").check(bad));
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Service.named("web").check("tcp", Duration.ofSeconds(1), Duration.ofSeconds(2), 1, 3, Duration.ZERO));
    }

    @Test
    void json_readBackByTheReader_givesTheSameValues() {
        String tricky = "\u0000\u001f \\ \" / \u2028 \ud83d\ude00 \ud800";
        Service s = WEB.metadata("k", tricky);
        @SuppressWarnings("unchecked")
        java.util.Map<String, Object> meta = (java.util.Map<String, Object>) Json.object(s.json("web-1")).get("metadata");
        assertEquals(tricky, meta.get("k"));
        assertTrue(s.json("web-1").chars().allMatch(c -> c >= 0x20 && c <= 0x7e), "pure printable ASCII: " + s.json("web-1"));
    }

    @Test
    void newId_isTheServiceAndTenHexDigits() {
        String a = Portolan.newId("web");
        assertTrue(a.matches("web-[0-9a-f]{10}"), a);
        assertTrue(!a.equals(Portolan.newId("web")));
    }

    @Test
    void agentUrl_fromEnvironmentOrDefault() {
        String env = System.getenv(Portolan.AGENT_ENV);
        URI expected = env == null || env.isBlank() ? Portolan.DEFAULT_AGENT : URI.create(env.strip());
        assertEquals(expected, Portolan.agent().uri());
        assertEquals(URI.create("http://172.17.0.1:9191"), Portolan.agent(URI.create("http://172.17.0.1:9191/")).uri());
    }
}
