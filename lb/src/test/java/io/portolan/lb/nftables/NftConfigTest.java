package io.portolan.lb.nftables;

import io.portolan.proto.ValidationException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NftConfigTest {
    /** Each default that --help shows (the flag table's) is the one the parser uses when the flag is absent. */
    @Test
    void flagTable_defaults_areTheParsersDefaults() {
        for (io.portolan.proto.Flag f : NftConfig.FLAG_TABLE) {
            assertTrue(f.literalDefault(), f.name());
            assertEquals(NftConfig.parse(Map.of()), NftConfig.parse(Map.of(f.name(), f.dflt())), f.name() + " " + f.dflt());
        }
        assertEquals(NftConfig.FLAGS, NftablesDataPlane.KIND.flags());
    }

    @Test
    void parse_noFlags_defaults() {
        NftConfig c = NftConfig.parse(Map.of());
        assertEquals("portolan", c.table());
        assertEquals(64, c.slots());
        assertEquals(NftConfig.Masquerade.ALL, c.masquerade());
        assertEquals("0x00004000", c.markHex());
        assertNull(c.vipDevice());
        assertEquals(Duration.ofMillis(500), c.minSyncInterval());
        assertTrue(NftablesDataPlane.KIND.flags().stream().allMatch(f -> f.startsWith("nft-")));
    }

    @Test
    void parse_everyFlag_taken() {
        NftConfig c = NftConfig.parse(Map.of("nft-table", "p2", "nft-min-sync-interval", "50ms", "nft-max-backoff", "5s",
                "nft-full-resync", "0", "nft-slots", "16", "nft-masquerade", "published", "nft-mark", "0x100",
                "nft-vip-device", "dummy0", "nft-affinity-timeout", "10m", "ipvs-device", "ignored-here"));
        assertEquals(new NftConfig("p2", Duration.ofMillis(50), Duration.ofSeconds(5), Duration.ZERO, 16,
                NftConfig.Masquerade.PUBLISHED, 0x100, "dummy0", Duration.ofMinutes(10)), c);
    }

    @Test
    void parse_nftKeywordAsTable_refusedNamingIt_otherNamesTaken() {
        ValidationException e = assertThrows(ValidationException.class, () -> NftConfig.parse(Map.of("nft-table", "ct")));
        assertEquals("--nft-table", e.field());
        assertEquals("ct", e.value());
        assertTrue(e.getMessage().startsWith("--nft-table 'ct': an nft keyword"), e.getMessage());
        for (String ok : new String[] {"portolan", "nat", "filter", "ct2", "ct-lb", "state", "dport", "kube-proxy"}) {
            assertEquals(ok, NftConfig.parse(Map.of("nft-table", ok)).table());
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "nft-table|Portolan", "nft-table|a;b", "nft-table|1abc", "nft-table|ct", "nft-table|ip", "nft-table|table", "nft-slots|0", "nft-slots|1025", "nft-slots|x",
            "nft-masquerade|some", "nft-mark|0", "nft-mark|0xzz", "nft-mark|4294967296", "nft-vip-device|lo;rm",
            "nft-vip-device|averylongname", "nft-min-sync-interval|5", "nft-min-sync-interval|-1s", "nft-full-resync|1s",
            "nft-affinity-timeout|0", "nft-unknown|1"})
    void parse_badValue_namesFlagAndValue(String flag, String value) {
        ValidationException e = assertThrows(ValidationException.class, () -> NftConfig.parse(Map.of(flag, value)));
        assertEquals("--" + flag, e.field());
        assertEquals(value, e.value());
    }
}
