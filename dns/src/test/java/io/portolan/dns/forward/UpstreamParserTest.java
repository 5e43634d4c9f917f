package io.portolan.dns.forward;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.portolan.dns.answer.WireQuery;
import io.portolan.dns.testing.Dns;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

class UpstreamParserTest {
    static byte[] question(String name, int type) {
        byte[] q = Dns.query(name, type);
        return java.util.Arrays.copyOfRange(q, 12, q.length);
    }

    static byte[] response(String name, int type, int rcode, List<String> answer, List<String> authority, boolean opt) {
        Message m = Dns.parse(Dns.query(name, type));
        m.getHeader().setID(7);
        m.getHeader().setFlag(Flags.QR);
        m.getHeader().setRcode(rcode);
        answer.forEach(r -> m.addRecord(Dns.rr(r), Section.ANSWER));
        authority.forEach(r -> m.addRecord(Dns.rr(r), Section.AUTHORITY));
        if (opt) {
            m.addRecord(new OPTRecord(1232, 0, 0), Section.ADDITIONAL);
        }
        return m.toWire();
    }

    static WireQuery client(String name, int type, int edns) {
        byte[] q = Dns.query(name, type, DClass.IN, edns);
        WireQuery w = new WireQuery();
        System.arraycopy(q, 0, w.buffer(q.length), 0, q.length);
        w.parse(q.length);
        return w;
    }

    @Test
    void parse_positive_cachedForSmallestTtlAndOptRemoved() {
        byte[] msg = response("ext.test.", Type.A, Rcode.NOERROR,
                List.of("ext.test. 300 IN A 192.0.2.1", "ext.test. 60 IN A 192.0.2.2"), List.of(), true);
        CachedResponse r = UpstreamParser.parse(msg, msg.length, question("ext.test.", Type.A), 0);
        assertEquals(60_000_000_000L, r.expiresNanos);
        assertNull(Dns.parse(r.wire).getOPT(), "the upstream's OPT is not cached");
    }

    @Test
    void parse_nxdomainWithSoa_cachedForSoaMinimum() {
        byte[] msg = response("nx.test.", Type.A, Rcode.NXDOMAIN, List.of(),
                List.of("test. 900 IN SOA ns.test. h.test. 1 2 3 4 30"), false);
        CachedResponse r = UpstreamParser.parse(msg, msg.length, question("nx.test.", Type.A), 0);
        assertEquals(30_000_000_000L, r.expiresNanos);
    }

    @Test
    void parse_nodataWithoutSoa_notCached() {
        byte[] msg = response("x.test.", Type.AAAA, Rcode.NOERROR, List.of(), List.of(), false);
        CachedResponse r = UpstreamParser.parse(msg, msg.length, question("x.test.", Type.AAAA), 0);
        assertEquals(0, r.expiresNanos);
    }

    @Test
    void write_afterTenSeconds_ttlsCountedDownAndClientIdCaseAndOpt() {
        byte[] msg = response("ext.test.", Type.A, Rcode.NOERROR, List.of("ext.test. 300 IN A 192.0.2.1"), List.of(), true);
        CachedResponse r = UpstreamParser.parse(msg, msg.length, question("ext.test.", Type.A), 0);
        WireQuery q = client("EXT.test.", Type.A, 1232);
        ByteBuf out = r.write(UnpooledByteBufAllocator.DEFAULT, q, 10_000_000_000L, 1232);
        Message m = Dns.parse(ByteBufUtil.getBytes(out));
        out.release();
        assertEquals(q.id(), m.getHeader().getID());
        assertEquals("EXT.test.", m.getQuestion().getName().toString());
        assertEquals(290, m.getSection(Section.ANSWER).get(0).getTTL());
        assertTrue(m.getHeader().getFlag(Flags.RA));
        assertEquals(1232, m.getOPT().getPayloadSize());
    }

    @Test
    void matches_wrongIdOrQuestion_rejected() {
        byte[] msg = response("ext.test.", Type.A, Rcode.NOERROR, List.of(), List.of(), false);
        assertTrue(UpstreamParser.matches(msg, msg.length, 7, question("ext.test.", Type.A)));
        assertEquals(false, UpstreamParser.matches(msg, msg.length, 8, question("ext.test.", Type.A)));
        assertEquals(false, UpstreamParser.matches(msg, msg.length, 7, question("other.test.", Type.A)));
        assertEquals(false, UpstreamParser.matches(msg, msg.length, 7, question("ext.test.", Type.AAAA)));
    }

    @Test
    void cache_pastMemoryBound_evictsLeastRecentlyUsed() {
        ResponseCache cache = new ResponseCache(16 * 2_000);
        for (int i = 0; i < 2_000; i++) {
            String name = "n" + i + ".test.";
            byte[] msg = response(name, Type.A, Rcode.NOERROR, List.of(name + " 300 IN A 192.0.2.1"), List.of(), false);
            cache.put(new ResponseCache.Key(question(name, Type.A)), UpstreamParser.parse(msg, msg.length, question(name, Type.A), 0));
        }
        assertTrue(cache.bytes() <= 16 * 2_000, "bytes " + cache.bytes());
        assertTrue(cache.entries() > 50 && cache.entries() < 2_000, "entries " + cache.entries());
        assertTrue(cache.get(new ResponseCache.Key(question("n1999.test.", Type.A)), 1) != null, "the newest is kept");
        assertNull(cache.get(new ResponseCache.Key(question("n1999.test.", Type.A)), 301_000_000_000L), "expired");
    }

    @Test
    void resolvConf_ownAddressesSkipped() throws Exception {
        Path f = Files.createTempFile("resolv", ".conf");
        try {
            Files.writeString(f, "# comment\nnameserver 127.0.0.11\nnameserver 10.0.0.2\nnameserver fd00::53\nsearch x\nnameserver bogus\n");
            List<InetSocketAddress> u = ResolvConf.upstreams(f, List.of(new InetSocketAddress("127.0.0.11", 53)));
            assertEquals(List.of(new InetSocketAddress("10.0.0.2", 53), new InetSocketAddress("fd00::53", 53)), u);
            assertEquals(List.of(), ResolvConf.upstreams(f, List.of(new InetSocketAddress("0.0.0.0", 53))).stream()
                    .filter(a -> a.getAddress().isLoopbackAddress()).toList());
        } finally {
            Files.delete(f);
        }
    }
}
