package io.portolan.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckTest {
    @Test
    void parse_kindsAndDefaults() {
        Check http = Check.parse("--check", "http:/healthz");
        assertEquals(Check.Kind.HTTP, http.kind());
        assertEquals("/healthz", http.path());
        assertEquals(Duration.ofSeconds(5), http.interval());
        assertEquals(Duration.ofSeconds(2), http.timeout());
        assertEquals(1, http.rise());
        assertEquals(3, http.fall());
        assertEquals(Duration.ZERO, http.startPeriod());
        assertEquals("tcp", Check.parse("--check", "tcp").spec());
        assertEquals("grpc", Check.parse("--check", "grpc").spec());
    }

    @ParameterizedTest
    @CsvSource({"http:, --check", "http:healthz, --check", "'http:/a b', --check", "udp, --check", "'', --check", "tcp:/x, --check"})
    void parse_badSpec_refusedNamingIt(String spec, String field) {
        ValidationException e = assertThrows(ValidationException.class, () -> Check.parse("--check", spec));
        assertEquals(field, e.field());
        assertTrue(e.getMessage().contains("'" + spec + "'"), e.getMessage());
    }

    @Test
    void timings_outOfRange_refusedNamingTheField() {
        Check tcp = Check.parse("--check", "tcp");
        assertEquals("check-timeout", assertThrows(ValidationException.class,
                () -> tcp.withTimings(Duration.ofSeconds(1), Duration.ofSeconds(2), 1, 3, Duration.ZERO)).field());
        assertEquals("check-interval", assertThrows(ValidationException.class,
                () -> tcp.withTimings(Duration.ofMillis(10), Duration.ofMillis(10), 1, 3, Duration.ZERO)).field());
        assertEquals("check-fall", assertThrows(ValidationException.class,
                () -> tcp.withTimings(null, null, 1, 0, null)).field());
    }

    static Instance instance(String id, Health h, int weight) {
        return new Instance(id, "web", "n1", Validate.address("a", "10.0.0." + (id.hashCode() & 0x7f)), List.of(new Port("http", 80, null)),
                weight, h, Map.of(), Instant.EPOCH, Extras.NONE, Check.parse("c", "tcp"), h == Health.HEALTHY ? null : "down");
    }

    @Test
    void panicThreshold_everyInstanceUnhealthy_allServed_otherwiseOnlyHealthyOnes() {
        Service web = new Service("web", Mode.VIP, List.of(new Port("http", 80, null)), null, null, List.of(), Extras.NONE);
        ClusterSnapshot some = new ClusterSnapshot(1, Map.of("web", web),
                Map.of("web", List.of(instance("a", Health.HEALTHY, 100), instance("b", Health.UNHEALTHY, 100))));
        assertEquals(List.of("a"), some.servingInstances("web").stream().map(Instance::id).toList());
        assertFalse(some.panicking("web"));
        ClusterSnapshot all = new ClusterSnapshot(2, Map.of("web", web),
                Map.of("web", List.of(instance("a", Health.UNHEALTHY, 100), instance("b", Health.UNHEALTHY, 100), instance("c", Health.UNHEALTHY, 0))));
        assertEquals(List.of("a", "b"), all.servingInstances("web").stream().map(Instance::id).toList(), "all but the weight-0 one");
        assertTrue(all.panicking("web"));
        ClusterSnapshot drained = new ClusterSnapshot(3, Map.of("web", web), Map.of("web", List.of(instance("c", Health.HEALTHY, 0))));
        assertTrue(drained.servingInstances("web").isEmpty(), "weight 0 is a decision, not a failure: no panic");
        assertFalse(drained.panicking("web"));
    }

    @Test
    void instance_withCheckAndReason_roundTripsThroughJson() {
        Instance i = instance("a", Health.UNHEALTHY, 100);
        Instance back = JsonCodec.decodeInstance(JsonCodec.encode(i));
        assertEquals(i, back);
        assertEquals("down", back.healthReason());
        Instance http = new Instance("h", "web", "n1", InetAddress.getLoopbackAddress(), List.of(), 100, Health.HEALTHY, Map.of(),
                Instant.EPOCH, Extras.NONE, Check.parse("c", "http:/h").withTimings(Duration.ofMillis(1500), Duration.ofMillis(250), 2, 4,
                Duration.ofSeconds(30)), null);
        assertEquals(http, JsonCodec.decodeInstance(JsonCodec.encode(http)));
    }
}
