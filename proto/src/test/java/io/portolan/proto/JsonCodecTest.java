package io.portolan.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonCodecTest {
    static Service web() throws Exception {
        return new Service("web", Mode.VIP, List.of(new Port("http", 80, Protocol.TCP)), InetAddress.getByName("10.99.0.7"), "wrr",
                List.of(new PublishedPort(8080, 80, Protocol.TCP)), Extras.NONE);
    }

    static Instance inst() throws Exception {
        return new Instance("web-1", "web", "node-a", InetAddress.getByName("10.0.0.5"), List.of(new Port("http", 8080, Protocol.TCP)),
                100, Health.HEALTHY, Map.of("version", "1.2"), Instant.parse("2026-11-22T00:00:00Z"), Extras.NONE);
    }

    @Test
    void service_roundTrip() throws Exception {
        Service s = web();
        assertEquals(s, JsonCodec.decodeService(JsonCodec.encode(s)));
        String json = new String(JsonCodec.encode(s), StandardCharsets.UTF_8);
        assertTrue(json.startsWith("{\"schema\":1,"), json);
    }

    @Test
    void instance_roundTrip() throws Exception {
        Instance i = inst();
        assertEquals(i, JsonCodec.decodeInstance(JsonCodec.encode(i)));
    }

    @Test
    void unknownFields_surviveRoundTrip() {
        String in = "{\"schema\":2,\"name\":\"web\",\"mode\":\"vip\",\"ports\":[],\"future\":{\"a\":[1,2,{\"b\":null}]},\"x\":\"y\"}";
        Service s = JsonCodec.decodeService(in.getBytes(StandardCharsets.UTF_8));
        assertEquals(Map.of("future", "{\"a\":[1,2,{\"b\":null}]}", "x", "\"y\""), s.extras().rawFields());
        Service again = JsonCodec.decodeService(JsonCodec.encode(s));
        assertEquals(s, again);
        String out = new String(JsonCodec.encode(again), StandardCharsets.UTF_8);
        assertTrue(out.contains("\"future\":{\"a\":[1,2,{\"b\":null}]}"), out);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "garbage", "[]", "{}", "{\"schema\":1}", "{\"schema\":1,\"name\":\"Web\",\"mode\":\"vip\"}",
            "{\"schema\":1,\"name\":\"web\",\"mode\":\"round\"}", "{\"schema\":1,\"name\":\"web\",\"mode\":\"vip\",\"vip\":\"host\"}",
            "{\"schema\":1,\"name\":\"web\",\"mode\":\"vip\",\"ports\":[{\"port\":70000}]}",
            "{\"schema\":\"1\",\"name\":\"web\",\"mode\":\"vip\"}", "{\"schema\":1,\"name\":\"web\",\"mode\":\"dnsrr\",\"vip\":\"10.0.0.1\"}"})
    void decodeService_bad_validationError(String json) {
        assertThrows(ValidationException.class, () -> JsonCodec.decodeService(json.getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void registration_roundTrip_andUnknownFieldRejected() throws Exception {
        Registration r = new Registration("web", "web-1", null, InetAddress.getByName("fd00::5"), List.of(new Port("", 80, Protocol.TCP)),
                Mode.DNSRR, 5, 30, Map.of());
        assertEquals(r, JsonCodec.decodeRegistration(JsonCodec.encode(r)));
        ValidationException e = assertThrows(ValidationException.class, () -> JsonCodec.decodeRegistration(
                "{\"service\":\"web\",\"address\":\"10.0.0.1\",\"ports\":[{\"port\":80}],\"wieght\":3}".getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().contains("wieght"), e.getMessage());
    }

    @Test
    void snapshot_roundTrip() throws Exception {
        ClusterSnapshot s = new ClusterSnapshot(42, Map.of("web", web()), Map.of("web", List.of(inst())));
        ClusterSnapshot d = JsonCodec.decodeSnapshot(JsonCodec.encode(s));
        assertEquals(42, d.revision());
        assertEquals(s.services(), d.services());
        assertEquals(s.instancesByService(), d.instancesByService());
    }

    @Test
    void snapshot_withNodes_roundTrip_andANodeKeepsUnknownFields() throws Exception {
        Node n = new Node("host-1", Validate.address("a", "10.213.0.1"));
        ClusterSnapshot s = ClusterSnapshot.next(null, 7, Map.of("web", web()), Map.of("web", List.of(inst())), null, Map.of("host-1", n));
        assertEquals(Map.of("host-1", n), JsonCodec.decodeSnapshot(JsonCodec.encode(s)).nodes());
        Node later = JsonCodec.decodeNode("{\"schema\":1,\"name\":\"h2\",\"address\":\"10.0.0.2\",\"zone\":\"eu-1\"}".getBytes());
        assertTrue(new String(JsonCodec.encode(later)).contains("\"zone\":\"eu-1\""));
        ValidationException e = assertThrows(ValidationException.class,
                () -> JsonCodec.decodeNode("{\"schema\":1,\"name\":\"h3\",\"address\":\"ten\"}".getBytes()));
        assertTrue(e.getMessage().contains("'ten'"), e.getMessage());
    }
}
