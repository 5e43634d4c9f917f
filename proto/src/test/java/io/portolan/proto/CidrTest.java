package io.portolan.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetAddress;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CidrTest {
    @Test
    void candidate_probesEveryUsableAddressOnce() {
        Cidr c = Cidr.parse("--vip-cidr", "10.99.0.0/24");
        assertEquals(254, c.usable());
        Set<InetAddress> seen = new HashSet<>();
        for (int i = 0; i < 254; i++) {
            InetAddress a = c.candidate("web", i);
            assertTrue(c.contains(a), a.toString());
            int last = a.getAddress()[3] & 0xff;
            assertTrue(last != 0 && last != 255, "network/broadcast handed out: " + a);
            seen.add(a);
        }
        assertEquals(254, seen.size());
        assertEquals(c.candidate("web", 0), c.candidate("web", 254));
    }

    @Test
    void candidate_sameNameSameStart_differentNamesSpread() {
        Cidr c = Cidr.parse("--vip-cidr", "10.99.0.0/16");
        assertEquals(c.candidate("api", 0), c.candidate("api", 0));
        Set<InetAddress> starts = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            starts.add(c.candidate("svc-" + i, 0));
        }
        assertTrue(starts.size() > 95, "first candidates collide too often: " + starts.size());
    }

    @Test
    void ipv6_supported() {
        Cidr c = Cidr.parse("--vip-cidr", "fd00:99::/112");
        assertTrue(c.contains(c.candidate("web", 3)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"10.99.0.0", "10.99.0.1/16", "10.99.0.0/33", "10.99.0.0/31", "10.99.0.0/x", "host/16", "10.0.0.0/4"})
    void parse_invalid_rejected(String s) {
        ValidationException e = assertThrows(ValidationException.class, () -> Cidr.parse("--vip-cidr", s));
        assertTrue(e.getMessage().contains(s), e.getMessage());
    }
}
