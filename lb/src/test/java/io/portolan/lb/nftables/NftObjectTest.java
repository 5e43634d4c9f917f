package io.portolan.lb.nftables;

import io.portolan.proto.Protocol;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The compact model: elements held as numbers write the text nft writes, hash as that text, and are
 * one object with a text element of the same key; {@link ObjectSet} against a {@code HashMap} by id.
 */
class NftObjectTest {
    private static final int VIP = 0x0A60000A; // 10.96.0.10

    @Test
    void backend_writesNftText_andHashesAsIt() {
        NftObject b = NftObject.backend("web", false, VIP, Protocol.TCP, 80, 3, 0x0A010001, 8080);
        assertEquals("10.96.0.10 . tcp . 80 . 3", b.key());
        assertEquals("10.1.0.1 . 8080", b.value());
        assertEquals("e backends 10.96.0.10 . tcp . 80 . 3", b.id());
        assertEquals(NftRender.BACKENDS, b.container());
        assertEquals("web", b.owner());
        NftObject p = NftObject.backend("web", true, 0, Protocol.UDP, 53, 0, 0xFFFFFFFF, 0);
        assertEquals("udp . 53 . 0", p.key());
        assertEquals("255.255.255.255 . 0", p.value());
        assertEquals("e published_backends udp . 53 . 0", p.id());
        NftObject d = NftObject.dispatch("web", false, VIP, Protocol.TCP, 65535, NftRender.slotVerdict(3, false));
        assertEquals("10.96.0.10 . tcp . 65535", d.key());
        assertEquals("goto slots_3", d.value());
        NftObject pd = NftObject.dispatch("web", true, 0, Protocol.TCP, 8080, NftRender.slotVerdict(2, true));
        assertEquals("tcp . 8080", pd.key());
        assertEquals("goto pslots_2", pd.value());
        assertEquals("e published tcp . 8080", pd.id());
    }

    @Test
    void compactElements_overRandomValues_parseBackAndHashAsTheirTextElement() {
        Random rnd = new Random(7);
        for (int i = 0; i < 20_000; i++) {
            int vip = i < 4 ? new int[] {0, -1, 0x7F000001, 0x80000000}[i] : rnd.nextInt();
            int port = rnd.nextInt(65536);
            int slot = rnd.nextInt(i % 2 == 0 ? 10 : 65536);
            boolean published = rnd.nextBoolean();
            Protocol proto = rnd.nextBoolean() ? Protocol.TCP : Protocol.UDP;
            NftObject b = NftObject.backend("s", published, vip, proto, port, slot, rnd.nextInt(), rnd.nextInt(65536));
            NftObject d = NftObject.dispatch("s", published, vip, proto, port, "goto sh_s_tcp_" + port);
            for (NftObject o : List.of(b, d)) {
                // its text parses back into the same compact object
                NftObject read = NftObject.element(o.container(), o.key(), o.value());
                assertEquals(o.getClass(), read.getClass(), o.id());
                assertEquals(o, read);
                assertEquals(o.keyHash(), read.keyHash());
            }
            // a text element with b's key (a value that does not parse): the same object, the same hash
            NftObject text = NftObject.element(b.container(), b.key(), "drifted");
            assertNotEquals(b.getClass(), text.getClass());
            assertEquals(b.keyHash(), text.keyHash(), b.id());
            assertTrue(text.sameKey(b) && b.sameKey(text), b.id());
        }
        // past the compact range (a frontend with over 65,535 slots): text, and still found by its text
        NftObject big = NftObject.backend("s", false, VIP, Protocol.TCP, 80, 70_000, 0x0A010001, 80);
        assertEquals("10.96.0.10 . tcp . 80 . 70000", big.key());
        assertTrue(big.sameKey(NftObject.element(NftRender.BACKENDS, "10.96.0.10 . tcp . 80 . 70000", "10.1.0.1 . 80")));
    }

    @Test
    void element_readBackText_isCompactAndEqualToRendered() {
        NftObject rendered = NftObject.backend("web", false, VIP, Protocol.TCP, 80, 12, 0x0A010203, 8443);
        NftObject read = NftObject.element(rendered.container(), rendered.key(), rendered.value());
        assertEquals(rendered.getClass(), read.getClass(), "parsed back into the compact form");
        assertNull(read.owner());
        assertEquals(rendered, read);
        assertTrue(read.sameKey(rendered));
        NftObject vip = NftObject.dispatch("web", false, VIP, Protocol.UDP, 53, NftRender.slotVerdict(7, false));
        NftObject vipRead = NftObject.element(NftRender.VIPS, "10.96.0.10 . udp . 53", "goto slots_7");
        assertEquals(vip, vipRead);
        assertSame(vip.value(), vipRead.value(), "slot verdicts are one string per process");
    }

    @Test
    void element_textThatDoesNotParse_staysText_andIsStillTheSameObjectByKey() {
        NftObject rendered = NftObject.backend("web", false, VIP, Protocol.TCP, 80, 0, 0x0A010001, 8080);
        // a value nft would not write for this map (drift): text, same key, other content
        NftObject drifted = NftObject.element(NftRender.BACKENDS, "10.96.0.10 . tcp . 80 . 0", "10.1.0.1 . http");
        assertNotEquals(rendered.getClass(), drifted.getClass());
        assertTrue(drifted.sameKey(rendered) && rendered.sameKey(drifted));
        assertEquals(rendered.keyHash(), drifted.keyHash());
        assertFalse(drifted.sameContent(rendered));
        assertNotEquals(rendered, drifted);
        // a protocol the plane never renders, a number with a leading zero: text, never a rendered key
        assertEquals("10.96.0.10 . sctp . 80", NftObject.element(NftRender.VIPS, "10.96.0.10 . sctp . 80", "goto slots_1").key());
        NftObject vip80 = NftObject.dispatch("x", false, VIP, Protocol.TCP, 80, "goto slots_1");
        for (String nonCanonical : List.of("10.96.0.010 . tcp . 80", "10.96.0.10 . tcp . 080", "10.96.0.10 . tcp . +80",
                "10.96.0.10 . tcp . 80 . 1", "10.96.0 . tcp . 80", "10.96.0.10.1 . tcp . 80", "10.96.0.256 . tcp . 80",
                "10.96.0.10 . tcp . 65536", "10.96.0.10 . TCP . 80", "10.96.0.10 .tcp . 80")) {
            NftObject o = NftObject.element(NftRender.VIPS, nonCanonical, "goto slots_1");
            assertEquals(nonCanonical, o.key(), "kept as text");
            assertFalse(o.sameKey(vip80), nonCanonical);
        }
        // same text in another map: another object
        assertFalse(NftObject.element("other", rendered.key(), rendered.value()).sameKey(rendered));
    }

    @Test
    void chainsAndSets_byName_containerAndRulesAreContent() {
        NftObject c = NftObject.chain("sh_web_tcp_80", "", "a\nb", "web");
        NftObject read = NftObject.chain("sh_web_tcp_80", "", null, null);
        assertTrue(c.sameKey(read));
        assertNotEquals(c, read);
        assertEquals("c sh_web_tcp_80", c.id());
        assertFalse(c.sameKey(NftObject.set("sh_web_tcp_80", null, null)), "a set is not a chain of the same name");
        assertEquals("s aff_x", NftObject.set("aff_x", "type ipv4_addr;", "web").id());
    }

    @Test
    void objectSet_randomPutsAndRemoves_agreeWithAHashMapById() {
        Random rnd = new Random(11);
        ObjectSet set = new ObjectSet();
        Map<String, NftObject> model = new HashMap<>();
        for (int step = 0; step < 200_000; step++) {
            // few distinct keys so that runs collide, grow and shift back
            int v = rnd.nextInt(3000);
            NftObject o = switch (v % 3) {
                case 0 -> NftObject.backend("s", false, VIP + v, Protocol.TCP, 80, v % 7, rnd.nextInt(), 8080);
                case 1 -> NftObject.element(NftRender.BACKENDS, "10.96.0.10 . tcp . 80 . " + v, "10.1.0.1 . 80"); // compact
                default -> NftObject.chain("c" + v, "", "r" + rnd.nextInt(3), "s");
            };
            switch (rnd.nextInt(4)) {
                case 0, 1 -> assertSame(model.put(o.id(), o), set.put(o));
                case 2 -> assertSame(model.remove(o.id()), set.remove(o));
                default -> assertSame(model.get(o.id()), set.get(o));
            }
            assertEquals(model.size(), set.size());
        }
        Set<String> ids = new HashSet<>();
        for (NftObject o : set) {
            assertTrue(ids.add(o.id()));
            assertSame(model.get(o.id()), o);
        }
        assertEquals(model.keySet(), ids);
        assertSame(set.get(model.values().iterator().next()), model.values().iterator().next());
        NftObject absent = NftObject.set("absent", null, null);
        assertNull(set.putIfAbsent(absent));
        assertSame(absent, set.putIfAbsent(NftObject.set("absent", "other", null)));
    }

    @Test
    void fragment_sortedById_laterOfOneKeyKept() {
        NftObject b10 = NftObject.backend("s", false, VIP, Protocol.TCP, 80, 10, 1, 1);
        NftObject b2 = NftObject.backend("s", false, VIP, Protocol.TCP, 80, 2, 1, 1);
        NftObject b2again = NftObject.backend("s", false, VIP, Protocol.TCP, 80, 2, 9, 9);
        NftObject chain = NftObject.chain("sh_s", "", "x", "s");
        Fragment f = Fragment.of("s", new ArrayList<>(List.of(b2, chain, b10, b2again)), null, List.of());
        assertEquals(List.of(chain, b10, b2again), f.objects(), "ids: c sh_s < e backends … . 10 < … . 2");
        assertSame(b2again, f.objects().get(2));
        assertTrue(f.contains(NftObject.element(NftRender.BACKENDS, "10.96.0.10 . tcp . 80 . 2", "1.1.1.1 . 1")));
        assertFalse(f.contains(NftObject.backend("s", false, VIP, Protocol.TCP, 80, 3, 1, 1)));
    }
}
