package io.portolan.agent.client;

import io.portolan.client.Service;
import io.portolan.proto.Check;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Registration;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What the Java client sends is what the agent reads: its registration body through the agent's own decoder. */
class ClientJsonContractTest {
    @Test
    void clientBody_decodedByTheAgent_sameValues() {
        Service s = Service.named("web").id("web-1").port("http", 8080).hostPort("http", 32768).ttl(Duration.ofSeconds(20))
                .weight(50).metadata("v", "1").check("http:/healthz", Duration.ofMillis(1500), Duration.ofMillis(250), 2, 4,
                        Duration.ofSeconds(30));
        Registration r = JsonCodec.decodeRegistration(s.toString().getBytes(StandardCharsets.UTF_8));
        assertEquals("web", r.service());
        assertEquals("web-1", r.id());
        assertEquals(Map.of("http", 32768), r.hostPorts());
        assertEquals(20, r.ttlSeconds());
        assertEquals(50, r.weight());
        assertEquals(Check.parse("c", "http:/healthz").withTimings(Duration.ofMillis(1500), Duration.ofMillis(250), 2, 4,
                Duration.ofSeconds(30)), r.check());
    }
}
