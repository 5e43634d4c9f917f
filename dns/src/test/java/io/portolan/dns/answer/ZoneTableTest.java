package io.portolan.dns.answer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.portolan.dns.testing.Dns;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.testing.Snapshots;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/**
 * Answers in the CoreDNS style: a query, then the expected answer, authority and additional
 * sections written as zone-file text, compared after sorting.
 */
class ZoneTableTest {
    static final String Z = "portolan.internal.";
    static final String SOA = Z + " 5 IN SOA ns.dns." + Z + " hostmaster." + Z + " 7 3600 600 86400 5";
    static final int FORWARD = -1;

    static final ClusterSnapshot SNAPSHOT = Snapshots.builder()
            .vip("web", "10.99.0.10", "http:80/tcp", "8081")
            .instance("web", "web-1", "10.0.0.1", "http:8080/tcp")
            .instance("web", "web-2", "10.0.0.2", "http:8080/tcp")
            .instance("web", "web-3", "10.0.0.3", 100, Health.UNHEALTHY, "http:8080/tcp")
            .instance("web", "web-4", "10.0.0.4", 0, Health.HEALTHY, "http:8080/tcp")
            .dnsrr("db", "pg:5432/tcp", "stats:9000/udp")
            .instance("db", "db-1", "10.0.1.1", "pg:5432/tcp")
            .instance("db", "DB_2", "fd00::2", 50, Health.HEALTHY, "pg:6432/tcp")
            .instance("db", "db-3", "10.0.1.3", 100, Health.UNHEALTHY, "pg:5432/tcp")
            .vip("six", "fd00:99::1", "http:80/tcp")
            .dnsrr("empty", "http:80/tcp")
            .vip("novip", null)
            .instance("orphan", "o-1", "10.0.9.9")
            .build(7);

    record Case(String name, int type, int dclass, int rcode, List<String> answer, List<String> authority, List<String> additional) {
        @Override
        public String toString() {
            return name + " " + Type.string(type) + (dclass == DClass.IN ? "" : " " + DClass.string(dclass));
        }
    }

    static Case c(String name, int type, int rcode, List<String> answer, List<String> authority, List<String> additional) {
        return new Case(name, type, DClass.IN, rcode, answer, authority, additional);
    }

    static Case ok(String name, int type, String... answer) {
        return c(name, type, Rcode.NOERROR, List.of(answer), List.of(), List.of());
    }

    static Case nodata(String name, int type) {
        return c(name, type, Rcode.NOERROR, List.of(), List.of(SOA), List.of());
    }

    static Case nxdomain(String name, int type) {
        return c(name, type, Rcode.NXDOMAIN, List.of(), List.of(SOA), List.of());
    }

    static Case forwarded(String name, int type) {
        return c(name, type, FORWARD, List.of(), List.of(), List.of());
    }

    static Stream<Case> cases() {
        return Stream.of(
                // vip mode: the VIP under both name forms; instances under tasks
                ok("web." + Z, Type.A, "web." + Z + " 5 IN A 10.99.0.10"),
                ok("web.", Type.A, "web. 5 IN A 10.99.0.10"),
                ok("WeB.PortoLan.Internal.", Type.A, "web." + Z + " 5 IN A 10.99.0.10"),
                nodata("web." + Z, Type.AAAA),
                nodata("web.", Type.AAAA),
                nodata("web." + Z, Type.TXT),
                ok("tasks.web." + Z, Type.A, "tasks.web." + Z + " 5 IN A 10.0.0.1", "tasks.web." + Z + " 5 IN A 10.0.0.2"),
                ok("tasks.web.", Type.A, "tasks.web. 5 IN A 10.0.0.1", "tasks.web. 5 IN A 10.0.0.2"),
                ok("web-1.tasks.web." + Z, Type.A, "web-1.tasks.web." + Z + " 5 IN A 10.0.0.1"),
                nxdomain("web-3.tasks.web." + Z, Type.A),
                nxdomain("web-4.tasks.web." + Z, Type.A),
                c("_http._tcp.web." + Z, Type.SRV, Rcode.NOERROR,
                        List.of("_http._tcp.web." + Z + " 5 IN SRV 0 0 80 web." + Z),
                        List.of(), List.of("web." + Z + " 5 IN A 10.99.0.10")),
                nodata("_tcp.web." + Z, Type.A),
                nxdomain("_https._tcp.web." + Z, Type.SRV),
                nxdomain("_http._udp.web." + Z, Type.SRV),
                ok("web." + Z, Type.ANY, "web." + Z + " 5 IN A 10.99.0.10"),
                // dnsrr mode: every serving instance, A and AAAA by family
                ok("db." + Z, Type.A, "db." + Z + " 5 IN A 10.0.1.1"),
                ok("db." + Z, Type.AAAA, "db." + Z + " 5 IN AAAA fd00::2"),
                ok("db.", Type.AAAA, "db. 5 IN AAAA fd00::2"),
                ok("tasks.db." + Z, Type.AAAA, "tasks.db." + Z + " 5 IN AAAA fd00::2"),
                // an id that is not a DNS label: the instance is named by its address
                nxdomain("db_2.tasks.db." + Z, Type.A),
                ok("fd00-0-0-0-0-0-0-2.tasks.db." + Z, Type.AAAA, "fd00-0-0-0-0-0-0-2.tasks.db." + Z + " 5 IN AAAA fd00::2"),
                c("_pg._tcp.db." + Z, Type.SRV, Rcode.NOERROR,
                        List.of("_pg._tcp.db." + Z + " 5 IN SRV 0 100 5432 db-1.tasks.db." + Z,
                                "_pg._tcp.db." + Z + " 5 IN SRV 0 50 6432 fd00-0-0-0-0-0-0-2.tasks.db." + Z),
                        List.of(),
                        List.of("db-1.tasks.db." + Z + " 5 IN A 10.0.1.1",
                                "fd00-0-0-0-0-0-0-2.tasks.db." + Z + " 5 IN AAAA fd00::2")),
                nodata("_stats._udp.db." + Z, Type.SRV),
                // an IPv6 VIP
                ok("six." + Z, Type.AAAA, "six." + Z + " 5 IN AAAA fd00:99::1"),
                nodata("six." + Z, Type.A),
                // no serving instance, no VIP yet: the name exists without records
                nodata("empty." + Z, Type.A),
                nodata("tasks.empty." + Z, Type.A),
                nodata("novip." + Z, Type.A),
                nxdomain("orphan." + Z, Type.A),
                // PTR for VIPs and serving instances, in-addr.arpa and ip6.arpa
                ok("10.0.99.10.in-addr.arpa.", Type.PTR, "10.0.99.10.in-addr.arpa. 5 IN PTR web." + Z),
                ok("1.0.0.10.in-addr.arpa.", Type.PTR, "1.0.0.10.in-addr.arpa. 5 IN PTR web-1.tasks.web." + Z),
                ok("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", Type.PTR,
                        "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 IN PTR fd00-0-0-0-0-0-0-2.tasks.db." + Z),
                ok("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.9.0.0.0.0.d.f.ip6.arpa.", Type.PTR,
                        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.9.0.0.0.0.d.f.ip6.arpa. 5 IN PTR six." + Z),
                forwarded("3.0.0.10.in-addr.arpa.", Type.PTR),
                forwarded("4.0.0.10.in-addr.arpa.", Type.PTR),
                // the apex
                ok(Z, Type.SOA, SOA),
                ok(Z, Type.NS, Z + " 5 IN NS ns.dns." + Z),
                ok("ns.dns." + Z, Type.A, "ns.dns." + Z + " 5 IN A 127.0.0.11"),
                nodata(Z, Type.A),
                nodata("dns." + Z, Type.A),
                // unknown names in the zone, and outside it
                nxdomain("nope." + Z, Type.A),
                nxdomain("nope.web." + Z, Type.A),
                nxdomain("a.b.c." + Z, Type.AAAA),
                forwarded("example.com.", Type.A),
                forwarded("nope.", Type.A),
                forwarded("internal.", Type.A),
                new Case("web." + Z, Type.A, DClass.CH, Rcode.REFUSED, List.of(), List.of(), List.of()),
                c("web." + Z, Type.AXFR, Rcode.REFUSED, List.of(), List.of(), List.of()));
    }

    static final ZoneTable TABLE = ZoneTable.build(SNAPSHOT, Z, 5, List.of(Snapshots.ip("127.0.0.11")));

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void answer_query_expectedSections(Case tc) {
        byte[] query = Dns.query(tc.name(), tc.type(), tc.dclass(), -1);
        WireQuery q = new WireQuery();
        System.arraycopy(query, 0, q.buffer(query.length), 0, query.length);
        assertEquals(WireQuery.OK, q.parse(query.length));
        Answer a = TABLE.answer(q);
        if (tc.rcode() == FORWARD) {
            assertNull(a, "should be forwarded");
            return;
        }
        ByteBuf out = Responses.write(UnpooledByteBufAllocator.DEFAULT, q, a, 65535, false);
        Message m = Dns.parse(ByteBufUtil.getBytes(out));
        out.release();
        assertEquals(Rcode.string(tc.rcode()), Rcode.string(m.getRcode()));
        assertEquals(tc.rcode() != Rcode.REFUSED, m.getHeader().getFlag(Flags.AA), "AA");
        assertTrue(m.getHeader().getFlag(Flags.QR));
        assertEquals(tc.name(), m.getQuestion().getName().toString(), "question echoed in the client's case");
        assertEquals(Dns.texts(tc.answer()), Dns.section(m, Section.ANSWER), "answer");
        assertEquals(Dns.texts(tc.authority()), Dns.section(m, Section.AUTHORITY), "authority");
        assertEquals(Dns.texts(tc.additional()), Dns.section(m, Section.ADDITIONAL), "additional");
    }

    static int rcode(ZoneTable table, String name) {
        byte[] query = Dns.query(name, Type.A, DClass.IN, -1);
        WireQuery q = new WireQuery();
        System.arraycopy(query, 0, q.buffer(query.length), 0, query.length);
        assertEquals(WireQuery.OK, q.parse(query.length));
        ByteBuf out = Responses.write(UnpooledByteBufAllocator.DEFAULT, q, table.answer(q), 65535, false);
        int rcode = Dns.parse(ByteBufUtil.getBytes(out)).getRcode();
        out.release();
        return rcode;
    }

    @Test
    void beforeTheRegistryIsRead_aZoneNameIsServfailNotNxdomain() {
        ZoneCompiler compiler = new ZoneCompiler(Z, 5, List.of());
        assertEquals(Rcode.SERVFAIL, rcode(compiler.compile(ClusterSnapshot.EMPTY), "web." + Z), "may exist: try again");
        assertEquals(Rcode.NXDOMAIN, rcode(compiler.compile(SNAPSHOT), "nope." + Z));
        assertEquals(Rcode.NOERROR, rcode(compiler.compile(SNAPSHOT), "web." + Z));
    }
}
