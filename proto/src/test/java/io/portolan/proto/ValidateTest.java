package io.portolan.proto;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ValidateTest {

    @ParameterizedTest
    @ValueSource(strings = {"web", "a", "web-1", "0abc", "a23456789012345678901234567890123456789012345678901234567890123"})
    void serviceName_validLabel_accepted(String name) {
        assertEquals(name, Validate.serviceName("service", name));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "Web", "-web", "web-", "we_b", "web.z", "a234567890123456789012345678901234567890123456789012345678901234",
            "wéb", "web\n", " web"})
    void serviceName_invalid_errorNamesFieldAndValue(String name) {
        ValidationException e = assertThrows(ValidationException.class, () -> Validate.serviceName("service", name));
        assertTrue(e.getMessage().startsWith("service '"), e.getMessage());
        assertEquals("service", e.field());
    }

    @ParameterizedTest
    @ValueSource(strings = {"a", "web-1.x_y", "A9"})
    void id_safeAlphabet_accepted(String id) {
        assertEquals(id, Validate.id("id", id));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "-a", ".a", "a/b", "a b", "a\u0000", "ä"})
    void id_unsafe_rejected(String id) {
        assertThrows(ValidationException.class, () -> Validate.id("id", id));
    }

    @ParameterizedTest
    @CsvSource({"10.0.0.5,10.0.0.5", "255.255.255.254,255.255.255.254", "::1,0:0:0:0:0:0:0:1", "fd00::5,fd00:0:0:0:0:0:0:5"})
    void address_literals_parsedWithoutResolution(String in, String out) {
        assertEquals(out, Validate.address("address", in).getHostAddress());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "localhost", "example.com", "10.0.0", "10.0.0.256", "10.0.0.05", "1.2.3.4.5", "10..0.1", "::g",
            "fe80::1%eth0", "::ffff:10.0.0.1", "1:2:3:4:5:6:7:8:9"})
    void address_notALiteral_rejected(String in) {
        ValidationException e = assertThrows(ValidationException.class, () -> Validate.address("address", in));
        assertTrue(e.getMessage().contains("'" + in + "'") || in.isEmpty(), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0", "224.0.0.1", "255.255.255.255", "::"})
    void unicast_unspecifiedMulticastBroadcast_rejected(String in) {
        assertThrows(ValidationException.class, () -> Validate.unicast("address", in));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, -1, 65_536, 1_000_000})
    void port_outOfRange_rejected(long p) {
        assertThrows(ValidationException.class, () -> Validate.port("port", p));
    }

    @ParameterizedTest
    @ValueSource(longs = {-1, 10_001})
    void weight_outOfRange_rejected(long w) {
        assertThrows(ValidationException.class, () -> Validate.weight("weight", w));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 1, 3_601})
    void ttl_outOfRange_rejected(long t) {
        assertThrows(ValidationException.class, () -> Validate.ttl("ttl", t));
    }
}
