package io.portolan.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.portolan.proto.ValidationException;
import io.portolan.proto.testing.Snapshots;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DnsConfigTest {
    /** Each literal default that --help shows (the flag table's) is the one the parser uses when the flag is absent. */
    @Test
    void flagTable_defaults_areTheParsersDefaults() {
        int literal = 0;
        for (io.portolan.proto.Flag f : DnsConfig.FLAG_TABLE) {
            if (f.literalDefault()) {
                literal++;
                assertEquals(DnsConfig.fromFlags(Map.of()), DnsConfig.fromFlags(Map.of(f.name(), f.dflt())), f.name() + " " + f.dflt());
            }
        }
        assertEquals(DnsConfig.FLAG_TABLE.size() - 2, literal, "all but dns-upstream and dns-udp-sockets");
    }

    @Test
    void parseAddresses_ipv4Ipv6AndDefaultPort_parsed() {
        assertEquals(List.of(new InetSocketAddress("127.0.0.11", 53), new InetSocketAddress("::1", 5353),
                        new InetSocketAddress("10.0.0.1", 53), new InetSocketAddress("fd00::1", 53)),
                DnsConfig.parseAddresses("--dns-listen", "127.0.0.11:53,[::1]:5353,10.0.0.1,fd00::1", 53));
    }

    @Test
    void parseAddresses_hostname_errorNamesFlagAndValue() {
        ValidationException e = assertThrows(ValidationException.class,
                () -> DnsConfig.parseAddresses("--dns-upstream", "8.8.8.8:53,dns.google:53", 53));
        assertEquals("--dns-upstream", e.field());
        assertEquals("dns.google:53", e.value());
    }

    @Test
    void parseAddresses_badPort_errorNamesValue() {
        ValidationException e = assertThrows(ValidationException.class, () -> DnsConfig.parseAddresses("--dns-listen", "127.0.0.1:70000", 53));
        assertTrue(e.getMessage().contains("70000"), e.getMessage());
    }

    @Test
    void parseZone_mixedCaseRelative_lowerCaseAbsolute() {
        assertEquals("cluster.example.", DnsConfig.parseZone("--dns-zone", "Cluster.Example"));
    }

    @Test
    void parseZone_badLabel_rejected() {
        ValidationException e = assertThrows(ValidationException.class, () -> DnsConfig.parseZone("--dns-zone", "a..b"));
        assertEquals("a..b", e.value());
        assertThrows(ValidationException.class, () -> DnsConfig.parseZone("--dns-zone", "under_score.z"));
        assertThrows(ValidationException.class, () -> DnsConfig.parseZone("--dns-zone", "."));
    }

    @Test
    void parseNetworks_cidrsAndHosts_containment() {
        List<ClientNetwork> n = DnsConfig.parseNetworks("--dns-recursion-clients", "172.16.0.0/12,::1,10.1.2.3");
        assertTrue(n.get(0).contains(Snapshots.ip("172.31.255.1")));
        assertFalse(n.get(0).contains(Snapshots.ip("172.32.0.1")));
        assertTrue(n.get(1).contains(Snapshots.ip("::1")));
        assertFalse(n.get(1).contains(Snapshots.ip("::2")));
        assertTrue(n.get(2).contains(Snapshots.ip("10.1.2.3")));
        ValidationException e = assertThrows(ValidationException.class, () -> DnsConfig.parseNetworks("--dns-recursion-clients", "10.0.0.0/33"));
        assertEquals("10.0.0.0/33", e.value());
    }

    @Test
    void defaults_recursionClients_loopbackAndPrivateNotPublic() {
        DnsConfig c = DnsConfig.defaults();
        assertEquals("portolan.internal.", c.zone());
        assertEquals(5, c.ttl());
        assertEquals(List.of(new InetSocketAddress("127.0.0.11", 53)), c.listen());
        assertTrue(c.recursionClients().stream().anyMatch(n -> n.contains(Snapshots.ip("127.0.0.1"))));
        assertTrue(c.recursionClients().stream().anyMatch(n -> n.contains(Snapshots.ip("172.17.0.2"))));
        assertFalse(c.recursionClients().stream().anyMatch(n -> n.contains(Snapshots.ip("8.8.8.8"))));
    }

    @Test
    void fromFlags_durationAndSize_parsedWithTheirUnits() {
        DnsConfig c = DnsConfig.fromFlags(Map.of("dns-forward-timeout", "1500ms", "dns-cache-size", "16m", "dns-ttl", "7"));
        assertEquals(Duration.ofMillis(1500), c.forwardTimeout());
        assertEquals(16L << 20, c.cacheBytes());
        assertEquals(7, c.ttl());
        ValidationException e = assertThrows(ValidationException.class, () -> DnsConfig.fromFlags(Map.of("dns-cache-size", "lots")));
        assertEquals("--dns-cache-size", e.field());
    }

    @Test
    void fromFlags_bareNumberForADuration_refusedNamingFlagAndValue() {
        ValidationException e = assertThrows(ValidationException.class, () -> DnsConfig.fromFlags(Map.of("dns-forward-timeout", "5")));
        assertEquals("--dns-forward-timeout", e.field());
        assertTrue(e.getMessage().contains("'5'") && e.getMessage().contains("5s"), e.getMessage());
    }

    @Test
    void fromFlags_listenNone_noServer_butBadValuesStillRefused() {
        assertNull(DnsConfig.fromFlags(Map.of("dns-listen", "none", "dns-zone", "x.internal")));
        ValidationException e = assertThrows(ValidationException.class,
                () -> DnsConfig.fromFlags(Map.of("dns-listen", "none", "dns-forward-timeout", "5")));
        assertEquals("--dns-forward-timeout", e.field());
    }

    @Test
    void constructor_ttlOutOfRange_rejected() {
        ValidationException e = assertThrows(ValidationException.class, () -> DnsConfig.defaults().withTtl(-1));
        assertEquals("--dns-ttl", e.field());
    }

    @Test
    void udpIo_parse_valuesAndErrorNamingTheValue() {
        assertEquals(DnsConfig.UdpIo.BLOCKING, DnsConfig.defaults().udpIo());
        assertEquals(DnsConfig.UdpIo.EVENT_LOOP, DnsConfig.UdpIo.parse("--dns-udp-io", "eventloop"));
        assertEquals(DnsConfig.UdpIo.BLOCKING, DnsConfig.UdpIo.parse("--dns-udp-io", "blocking"));
        ValidationException e = assertThrows(ValidationException.class, () -> DnsConfig.UdpIo.parse("--dns-udp-io", "epol"));
        assertEquals("--dns-udp-io", e.field());
        assertTrue(e.getMessage().contains("epol"), e.getMessage());
    }
}
