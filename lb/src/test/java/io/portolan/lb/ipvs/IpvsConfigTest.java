package io.portolan.lb.ipvs;

import io.portolan.proto.ValidationException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IpvsConfigTest {
    /** Each default that --help shows (the flag table's) is the one the parser uses when the flag is absent. */
    @Test
    void flagTable_defaults_areTheParsersDefaults() {
        for (io.portolan.proto.Flag f : IpvsConfig.FLAG_TABLE) {
            assertTrue(f.literalDefault(), f.name());
            assertEquals(IpvsConfig.parse(Map.of()), IpvsConfig.parse(Map.of(f.name(), f.dflt())), f.name() + " " + f.dflt());
        }
    }

    @Test
    void defaults() {
        IpvsConfig c = IpvsConfig.DEFAULT;
        assertEquals("portolan-ipvs", c.device());
        assertEquals(Duration.ofHours(3), c.tcpTimeout());
        assertTrue(c.tcpTimeout().toSeconds() > 900, "well above the kernel's 900 s");
        assertEquals(0x0c000000, c.markBase());
        assertTrue(c.ownsMark(0x0c0fffffL) && !c.ownsMark(0x0c100000L) && !c.ownsMark(0x103));
        assertTrue(IpvsDataPlane.KIND.flags().stream().allMatch(f -> f.startsWith("ipvs-")));
    }

    @ParameterizedTest
    @CsvSource({
            "ipvs-device, 'eth0;rm', --ipvs-device",
            "ipvs-tcp-timeout, 1500ms, --ipvs-tcp-timeout",
            "ipvs-tcp-timeout, forever, --ipvs-tcp-timeout",
            "ipvs-mark-base, 0x0c000001, --ipvs-mark-base",
            "ipvs-mark-base, 0x1ffffffff, --ipvs-mark-base",
            "ipvs-mark-bits, 30, --ipvs-mark-bits",
            "ipvs-masquerade-cidr, 10.0.0.1/8, --ipvs-masquerade-cidr",
            "ipvs-ip-forward, yes, --ipvs-ip-forward",
            "ipvs-nope, 1, --ipvs-nope",
    })
    void badFlag_namesFlagAndValue(String flag, String value, String field) {
        ValidationException e = assertThrows(ValidationException.class, () -> IpvsDataPlane.KIND.check().accept(Map.of(flag, value)));
        assertEquals(field, e.field());
        assertTrue(e.getMessage().contains(value), e.getMessage());
    }

    @Test
    void goodFlags() {
        IpvsConfig c = IpvsConfig.parse(Map.of("ipvs-mark-base", "0x40000000", "ipvs-mark-bits", "16", "ipvs-tcp-timeout", "3h",
                "ipvs-masquerade-cidr", "10.0.0.0/8", "ipvs-device", "lo"));
        assertEquals(0x40000000, c.markBase());
        assertEquals(0xffff0000, c.markMask());
        assertEquals("10.0.0.0/8", c.masquerade().toString());
    }
}
