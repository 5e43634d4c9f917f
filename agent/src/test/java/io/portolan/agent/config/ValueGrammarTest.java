package io.portolan.agent.config;

import io.portolan.dns.DnsConfig;
import io.portolan.lb.DataPlanes;
import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every flag that takes a duration reads it the same way: a unit is required, a bare number is refused naming flag and value. */
class ValueGrammarTest {
    /** Every agent flag that takes a duration, with a value in its range. */
    static final Map<String, String> DURATION_FLAGS = Map.ofEntries(
            Map.entry("etcd-timeout", "5s"),
            Map.entry("dns-forward-timeout", "5s"),
            Map.entry("lb-idle-timeout", "5s"), Map.entry("lb-udp-idle-timeout", "5s"), Map.entry("lb-drain-timeout", "5s"),
            Map.entry("lb-connect-timeout", "5s"), Map.entry("lb-keepalive-idle", "5s"), Map.entry("lb-affinity-timeout", "5s"),
            Map.entry("lb-eject-window", "5s"), Map.entry("lb-eject-duration", "5s"), Map.entry("lb-service-idle-timeouts", "web=5s"),
            Map.entry("nft-min-sync-interval", "5s"), Map.entry("nft-max-backoff", "5s"), Map.entry("nft-full-resync", "15s"),
            Map.entry("nft-affinity-timeout", "5s"),
            Map.entry("ipvs-tcp-timeout", "5s"), Map.entry("ipvs-tcpfin-timeout", "5s"), Map.entry("ipvs-udp-timeout", "5s"),
            Map.entry("ipvs-drain-timeout", "5s"), Map.entry("ipvs-min-sync-interval", "5s"), Map.entry("ipvs-max-backoff", "5s"),
            Map.entry("ipvs-full-resync-interval", "15s"));

    @Test
    void everyDurationFlag_isInTheList() {
        Set<String> looksLikeDuration = new TreeSet<>();
        for (String f : AgentConfig.FLAGS) {
            if (f.matches(".*(timeout|interval|backoff|resync|duration|idle|window).*") && !f.endsWith("-ms")) {
                looksLikeDuration.add(f);
            }
        }
        assertEquals(looksLikeDuration, new TreeSet<>(DURATION_FLAGS.keySet()));
    }

    @Test
    void everyDurationFlag_bareNumberRefused_unitAccepted() {
        for (var e : DURATION_FLAGS.entrySet()) {
            String bare = e.getValue().replace("s", "");
            ValidationException x = assertThrows(ValidationException.class,
                    () -> AgentConfig.parse(new String[]{"--" + e.getKey(), bare}), e.getKey() + " " + bare);
            assertEquals("--" + e.getKey(), x.field(), x.getMessage());
            assertTrue(x.getMessage().contains("'" + bare + "'"), x.getMessage());
            assertNotNull(AgentConfig.parse(new String[]{"--" + e.getKey(), e.getValue()}), e.getKey());
        }
    }

    @Test
    void moduleFlags_parsedByTheirModule() {
        AgentConfig c = AgentConfig.parse(new String[]{"--dns-forward-timeout", "750ms", "--dataplane", "nftables", "--nft-slots", "16"});
        assertEquals(Duration.ofMillis(750), c.dns().forwardTimeout());
        assertEquals("nftables", c.dataplane());
        assertEquals(Map.of("dns-forward-timeout", "750ms", "nft-slots", "16"), c.moduleFlags());
        assertEquals(DataPlanes.names(), java.util.List.of("auto", "none", "userspace", "nftables", "ipvs"));
        assertTrue(AgentConfig.FLAGS.containsAll(DnsConfig.FLAGS));
    }

    @ParameterizedTest
    @CsvSource({"--etcd-timeout-ms, 1500, 1500", "--etcd-timeout, 2s, 2000"})
    void etcdTimeout_oldSpellingStillWorks(String flag, String value, long millis) {
        assertEquals(Duration.ofMillis(millis), AgentConfig.parse(new String[]{flag, value}).etcdTimeout());
    }

    @Test
    void drain_oldSpellingInSeconds() {
        Flags f = Flags.parse(new String[]{"--drain-seconds", "3"}, Set.of("drain", "drain-seconds"), Set.of());
        assertEquals(Duration.ofSeconds(3), f.duration("drain", "drain-seconds", ChronoUnit.SECONDS, Duration.ofSeconds(2), Duration.ZERO,
                Duration.ofHours(1)));
        Flags g = Flags.parse(new String[]{"--drain", "250ms"}, Set.of("drain", "drain-seconds"), Set.of());
        assertEquals(Duration.ofMillis(250), g.duration("drain", "drain-seconds", ChronoUnit.SECONDS, Duration.ofSeconds(2), Duration.ZERO,
                Duration.ofHours(1)));
    }
}
