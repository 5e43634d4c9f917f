package io.portolan.dns.answer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.portolan.dns.testing.Dns;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.testing.Snapshots;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

class ResponsesTest {
    static final String Z = "portolan.internal.";

    static ZoneTable table(int instances) {
        Snapshots s = Snapshots.builder().dnsrr("big", "http:80/tcp");
        for (int i = 0; i < instances; i++) {
            s.instance("big", "big-" + i, "10.1." + (i / 250) + "." + (1 + i % 250), "http:8080/tcp");
        }
        return ZoneTable.build(s.build(1), Z, 5, List.of());
    }

    static WireQuery parsed(byte[] query) {
        WireQuery q = new WireQuery();
        System.arraycopy(query, 0, q.buffer(query.length), 0, query.length);
        q.parse(query.length);
        return q;
    }

    static Message answer(ZoneTable t, byte[] query, boolean tcp) {
        WireQuery q = parsed(query);
        Answer a = t.answer(q);
        ByteBuf out = Responses.write(UnpooledByteBufAllocator.DEFAULT, q, a, tcp ? 65535 : Responses.udpLimit(q), false);
        try {
            return Dns.parse(ByteBufUtil.getBytes(out));
        } finally {
            out.release();
        }
    }

    @Test
    void write_dnsrr_eachInstanceFirstRoughlyEquallyOften() {
        ZoneTable t = table(4);
        byte[] query = Dns.query("big." + Z, Type.A);
        Map<String, Integer> first = new HashMap<>();
        for (int i = 0; i < 1000; i++) {
            Message m = answer(t, query, false);
            List<Record> an = m.getSection(Section.ANSWER);
            assertEquals(4, an.size());
            first.merge(((ARecord) an.get(0)).getAddress().getHostAddress(), 1, Integer::sum);
        }
        assertEquals(4, first.size(), first.toString());
        for (int n : first.values()) {
            // expected 250 each; 180-320 is more than 4 standard deviations (sd ~13.7)
            assertTrue(n > 180 && n < 320, first.toString());
        }
    }

    @Test
    void write_hundredInstancesOverUdpWithoutEdns_truncatedWithQuestionOnly() {
        Message m = answer(table(100), Dns.query("big." + Z, Type.A), false);
        assertTrue(m.getHeader().getFlag(Flags.TC));
        assertEquals(0, m.getSection(Section.ANSWER).size());
        assertEquals("big." + Z, m.getQuestion().getName().toString());
    }

    @Test
    void write_hundredInstancesOverUdpWithEdns_truncatedAndOptEchoed() {
        Message m = answer(table(100), Dns.query("big." + Z, Type.A, DClass.IN, 4096), false);
        assertTrue(m.getHeader().getFlag(Flags.TC));
        assertNotNull(m.getOPT());
        assertEquals(Responses.SERVER_UDP_SIZE, m.getOPT().getPayloadSize());
    }

    @Test
    void write_hundredInstancesOverTcp_wholeAnswer() {
        Message m = answer(table(100), Dns.query("big." + Z, Type.A), true);
        assertFalse(m.getHeader().getFlag(Flags.TC));
        assertEquals(100, m.getSection(Section.ANSWER).size());
    }

    @Test
    void write_fortyInstancesWithEdns1232_fitsWithoutTruncation() {
        Message m = answer(table(40), Dns.query("big." + Z, Type.A, DClass.IN, 1232), false);
        assertFalse(m.getHeader().getFlag(Flags.TC));
        assertEquals(40, m.getSection(Section.ANSWER).size());
        Message small = answer(table(40), Dns.query("big." + Z, Type.A), false);
        assertTrue(small.getHeader().getFlag(Flags.TC), "512 bytes without EDNS");
    }

    @Test
    void write_ednsDoBit_echoedInOpt() throws Exception {
        Message q = Message.newQuery(Record.newRecord(org.xbill.DNS.Name.fromString("big." + Z), Type.A, DClass.IN));
        q.addRecord(new OPTRecord(1232, 0, 0, org.xbill.DNS.ExtendedFlags.DO), Section.ADDITIONAL);
        Message m = answer(table(1), q.toWire(), false);
        assertEquals(org.xbill.DNS.ExtendedFlags.DO, m.getOPT().getFlags() & org.xbill.DNS.ExtendedFlags.DO);
    }

    @Test
    void write_rdSet_rdEchoedAndIdKept() {
        byte[] query = Dns.query("big." + Z, Type.A);
        Message m = answer(table(1), query, false);
        assertTrue(m.getHeader().getFlag(Flags.RD));
        assertEquals(((query[0] & 0xFF) << 8) | (query[1] & 0xFF), m.getHeader().getID());
    }

    @Test
    void parse_shortPacket_dropped() {
        WireQuery q = new WireQuery();
        assertEquals(WireQuery.DROP, q.parse(11));
    }

    @Test
    void parse_response_dropped() {
        byte[] query = Dns.query("big." + Z, Type.A);
        query[2] |= (byte) 0x80;
        assertEquals(WireQuery.DROP, parsedStatus(query));
    }

    @Test
    void parse_noQuestion_formerr() {
        byte[] query = Dns.query("big." + Z, Type.A);
        query[5] = 0;
        assertEquals(WireQuery.FORMERR, parsedStatus(query));
        WireQuery q = parsed(query);
        Message m = Dns.parse(ByteBufUtil.getBytes(Responses.error(UnpooledByteBufAllocator.DEFAULT, q, WireQuery.FORMERR, false)));
        assertEquals(Rcode.FORMERR, m.getRcode());
    }

    @Test
    void parse_truncatedQuestion_formerr() {
        byte[] query = Dns.query("big." + Z, Type.A);
        assertEquals(WireQuery.FORMERR, parsedStatus(java.util.Arrays.copyOf(query, query.length - 3)));
    }

    @Test
    void parse_compressionPointerInQuestion_formerr() {
        byte[] query = Dns.query("big." + Z, Type.A);
        query[12] = (byte) 0xC0;
        assertEquals(WireQuery.FORMERR, parsedStatus(query));
    }

    @Test
    void parse_opcodeUpdate_notimp() {
        byte[] query = Dns.query("big." + Z, Type.A);
        query[2] = (byte) (5 << 3);
        assertEquals(WireQuery.NOTIMP, parsedStatus(query));
    }

    @Test
    void parse_ednsVersion1_badvers() {
        byte[] query = Dns.query("big." + Z, Type.A, DClass.IN, 1232);
        query[query.length - 5] = 1; // OPT TTL: ext-rcode, VERSION, flags
        WireQuery q = parsed(query);
        assertEquals(WireQuery.BADVERS, parsedStatus(query));
        Message m = Dns.parse(ByteBufUtil.getBytes(Responses.error(UnpooledByteBufAllocator.DEFAULT, q, WireQuery.BADVERS, false)));
        assertEquals(Rcode.BADVERS, m.getRcode());
    }

    @Test
    void parse_udpSizeFromOpt_honoured() {
        WireQuery q = parsed(Dns.query("big." + Z, Type.A, DClass.IN, 900));
        assertEquals(900, Responses.udpLimit(q));
        assertEquals(512, Responses.udpLimit(parsed(Dns.query("big." + Z, Type.A, DClass.IN, 100))));
        assertEquals(Responses.SERVER_UDP_SIZE, Responses.udpLimit(parsed(Dns.query("big." + Z, Type.A, DClass.IN, 65000))));
    }

    @Test
    void isUnder_labelBoundary_only() {
        byte[] zone = Wire.name(Z);
        assertTrue(parsed(Dns.query("x.portolan.internal.", Type.A)).isUnder(zone));
        assertTrue(parsed(Dns.query("PORTOLAN.internal.", Type.A)).isUnder(zone));
        assertFalse(parsed(Dns.query("xportolan.internal.", Type.A)).isUnder(zone));
        assertFalse(parsed(Dns.query("internal.", Type.A)).isUnder(zone));
    }

    @Test
    void build_newSnapshot_answersChange() {
        ClusterSnapshot one = Snapshots.builder().vip("web", "10.99.0.1").build(1);
        ClusterSnapshot two = Snapshots.builder().vip("web", "10.99.0.2").build(2);
        Message a = answer(ZoneTable.build(one, Z, 5, List.of()), Dns.query("web." + Z, Type.A), false);
        Message b = answer(ZoneTable.build(two, Z, 5, List.of()), Dns.query("web." + Z, Type.A), false);
        assertEquals("10.99.0.1", ((ARecord) a.getSection(Section.ANSWER).get(0)).getAddress().getHostAddress());
        assertEquals("10.99.0.2", ((ARecord) b.getSection(Section.ANSWER).get(0)).getAddress().getHostAddress());
    }

    @Test
    void build_addressSharedByTwoServices_bothPtrTargets() {
        ClusterSnapshot snap = Snapshots.builder().dnsrr("a").instance("a", "a-1", "10.5.0.1")
                .dnsrr("b").instance("b", "b-1", "10.5.0.1").build(1);
        ZoneTable full = ZoneTable.build(snap, Z, 5, List.of());
        Message m = answer(full, Dns.query("1.0.5.10.in-addr.arpa.", Type.PTR), false);
        assertEquals(List.of("1.0.5.10.in-addr.arpa. 5 in ptr a-1.tasks.a.portolan.internal.",
                "1.0.5.10.in-addr.arpa. 5 in ptr b-1.tasks.b.portolan.internal."), Dns.section(m, Section.ANSWER));
    }

    @Test
    void compile_afterPreviousSnapshot_sameAnswersAsFullBuild() {
        ClusterSnapshot one = Snapshots.builder().vip("web", "10.99.0.1").instance("web", "w-1", "10.5.0.1")
                .dnsrr("db").instance("db", "d-1", "10.5.0.2").build(1);
        ClusterSnapshot two = Snapshots.builder().vip("web", "10.99.0.1").instance("web", "w-1", "10.5.0.1")
                .dnsrr("db").instance("db", "d-1", "10.5.0.2").instance("db", "d-2", "10.5.0.1").build(2);
        ZoneCompiler compiler = new ZoneCompiler(Z, 5, List.of());
        compiler.compile(one);
        ZoneTable incremental = compiler.compile(two);
        ZoneTable full = ZoneTable.build(two, Z, 5, List.of());
        for (String[] q : new String[][] {{"db." + Z, "A"}, {"1.0.5.10.in-addr.arpa.", "PTR"}, {"2.0.5.10.in-addr.arpa.", "PTR"},
            {"web." + Z, "A"}, {"tasks.web." + Z, "A"}, {Z, "SOA"}}) {
            byte[] query = Dns.query(q[0], Type.value(q[1]));
            assertEquals(Dns.section(answer(full, query, true), Section.ANSWER), Dns.section(answer(incremental, query, true), Section.ANSWER),
                    q[0]);
        }
        assertEquals(full.nameCount(), incremental.nameCount());
    }

    static int parsedStatus(byte[] query) {
        WireQuery q = new WireQuery();
        System.arraycopy(query, 0, q.buffer(query.length), 0, query.length);
        return q.parse(query.length);
    }
}
