package io.portolan.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PortTest {
    @Test
    void parse_allForms() {
        assertEquals(new Port("http", 8080, Protocol.TCP), Port.parse("--port", "http:8080"));
        assertEquals(new Port("dns", 53, Protocol.UDP), Port.parse("--port", "dns:53/udp"));
        assertEquals(new Port("", 443, Protocol.TCP), Port.parse("--port", "443/tcp"));
        assertEquals(new Port("", 5000, Protocol.TCP), Port.parse("--port", "5000"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "http:", ":80", "80/sctp", "0", "65536", "http:80x", "HTTP:80", "a-very-long-port-name:80", "-1", "1e3"})
    void parse_invalid_errorNamesSpec(String spec) {
        ValidationException e = assertThrows(ValidationException.class, () -> Port.parse("--port", spec));
        assertTrue(e.getMessage().startsWith("--port"), e.getMessage());
    }

    @Test
    void publishedPort_parse() {
        assertEquals(new PublishedPort(8080, 80, Protocol.TCP), PublishedPort.parse("--publish", "8080:80"));
        assertEquals(new PublishedPort(53, 53, Protocol.UDP), PublishedPort.parse("--publish", "53/udp"));
        assertThrows(ValidationException.class, () -> PublishedPort.parse("--publish", "0:80"));
    }
}
