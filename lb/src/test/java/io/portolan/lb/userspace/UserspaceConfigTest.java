package io.portolan.lb.userspace;

import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UserspaceConfigTest {
    /** Each literal default that --help shows (the flag table's) is the one the parser uses when the flag is absent. */
    @Test
    void flagTable_defaults_areTheParsersDefaults() {
        int literal = 0;
        for (io.portolan.proto.Flag f : UserspaceConfig.FLAG_TABLE) {
            if (f.literalDefault()) {
                literal++;
                assertEquals(UserspaceConfig.fromFlags(Map.of()), UserspaceConfig.fromFlags(Map.of(f.name(), f.dflt())), f.name() + " " + f.dflt());
            }
        }
        assertEquals(UserspaceConfig.FLAG_TABLE.size() - 3, literal, "all but source-addresses, service-idle-timeouts, proxy-protocol");
    }

    @Test
    void defaults_noFlags_documentedValues() {
        UserspaceConfig c = UserspaceConfig.defaults();
        assertEquals("lo", c.vipDevice());
        assertEquals(List.of(), c.sourceAddresses());
        assertEquals(50_000, c.maxConnections());
        assertEquals(Duration.ofHours(2), c.idleTimeout());
        assertEquals(2, c.connectRetries());
        assertFalse(c.splice());
        assertEquals(UserspaceConfig.TcpIo.NATIVE, c.tcpIo());
        assertTrue(c.eject().enabled());
    }

    @Test
    void flag_everyKnownFlag_applied() {
        UserspaceConfig c = UserspaceConfig.builder()
                .flag("vip-device", "portolan0")
                .flag("source-addresses", "10.0.0.5, 10.0.0.6,fd00::1")
                .flag("max-connections", "1000")
                .flag("idle-timeout", "15m")
                .flag("service-idle-timeouts", "db=8h,web=30s")
                .flag("drain-timeout", "500ms")
                .flag("connect-retries", "0")
                .flag("proxy-protocol", "web")
                .flag("splice", "true")
                .flag("tcp-io", "netty")
                .flag("eject-max-percent", "20")
                .build();
        assertEquals("portolan0", c.vipDevice());
        assertEquals(3, c.sourceAddresses().size());
        assertEquals(Duration.ofHours(8), c.idleTimeoutFor("db"));
        assertEquals(Duration.ofMinutes(15), c.idleTimeoutFor("other"));
        assertEquals(Map.of("db", Duration.ofHours(8), "web", Duration.ofSeconds(30)), c.serviceIdleTimeouts());
        assertEquals(Duration.ofMillis(500), c.drainTimeout());
        assertEquals(Set.of("web"), c.proxyProtocolServices());
        assertEquals(0.2, c.eject().maxEjectedFraction(), 1e-9);
        assertTrue(c.splice());
        assertEquals(UserspaceConfig.TcpIo.NETTY, c.tcpIo());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "source-addresses|10.0.0.5,example.com|example.com",
            "source-addresses|0.0.0.0|0.0.0.0",
            "vip-device|lo;rm -rf /|lo;rm -rf /",
            "vip-device|-lo|-lo",
            "max-connections|0|0",
            "idle-timeout|10 parsecs|10 parsecs",
            "service-idle-timeouts|Web=1s|Web=1s",
            "proxy-protocol|web,,db|web,,db",
            "splice|maybe|maybe",
            "tcp-io|io_uring|io_uring",
            "nonsense|1|--lb-nonsense",
    })
    void flag_badValue_validationExceptionNamesFlagAndValue(String flag, String value, String shown) {
        ValidationException e = assertThrows(ValidationException.class, () -> UserspaceConfig.builder().flag(flag, value));
        assertTrue(e.getMessage().contains(shown), e.getMessage());
        assertTrue(e.getMessage().startsWith(flag.equals("nonsense") ? "flag" : "--lb-" + flag), e.getMessage());
    }
}
