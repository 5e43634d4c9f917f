package io.portolan.dns.answer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NameMapTest {
    static byte[] key(String name) {
        return Wire.name(name);
    }

    static String get(NameMap<String> m, String name) {
        byte[] k = key(name);
        return m.get(k, 0, k.length);
    }

    @Test
    void remove_randomKeysInRandomOrder_restStillFound() {
        Random rnd = new Random(7);
        for (int trial = 0; trial < 300; trial++) {
            int expected = 1 + rnd.nextInt(40);
            NameMap<String> m = new NameMap<>(expected);
            List<String> names = new ArrayList<>();
            for (int i = 0; i < expected; i++) {
                names.add("n" + rnd.nextInt(1_000_000) + ".tasks.web.z.");
            }
            for (String n : names) {
                m.put(key(n), n);
            }
            Set<String> present = new HashSet<>(names);
            Collections.shuffle(names, rnd);
            for (String n : names) {
                assertEquals(present.remove(n), m.remove(key(n)), n);
                assertNull(get(m, n), n);
                assertEquals(present.size(), m.size());
                for (String p : present) {
                    assertEquals(p, get(m, p), "after removing " + n + " in trial " + trial);
                }
            }
        }
    }

    @Test
    void remove_absent_false() {
        NameMap<String> m = new NameMap<>(4);
        m.put(key("a.z."), "a");
        assertFalse(m.remove(key("b.z.")));
        assertTrue(m.remove(key("a.z.")));
        assertFalse(m.remove(key("a.z.")));
        assertEquals(0, m.size());
    }

    @Test
    void remove_fullProbeRunWrappingAround_restStillFound() {
        // 16 slots, 8 names: runs wrap past the last slot for some seeds; try many key sets.
        for (int seed = 0; seed < 2_000; seed++) {
            NameMap<String> m = new NameMap<>(7);
            List<String> names = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                names.add(seed + "-" + i + ".z.");
                m.put(key(names.get(i)), names.get(i));
            }
            String gone = names.remove(seed % 8);
            assertTrue(m.remove(key(gone)));
            for (String n : names) {
                assertEquals(n, get(m, n), "seed " + seed);
            }
        }
    }

    @Test
    void copy_changed_originalUnchanged() {
        NameMap<String> original = new NameMap<>(3_000); // several segments
        for (int i = 0; i < 3_000; i++) {
            original.put(key("s" + i + ".z."), "v" + i);
        }
        NameMap<String> copy = original.copy();
        for (int i = 0; i < 3_000; i += 3) {
            copy.remove(key("s" + i + ".z."));
        }
        copy.put(key("s1.z."), "changed");
        copy.put(key("new.z."), "new");
        for (int i = 0; i < 3_000; i++) {
            assertEquals("v" + i, get(original, "s" + i + ".z."));
            assertEquals(i % 3 == 0 ? null : i == 1 ? "changed" : "v" + i, get(copy, "s" + i + ".z."));
        }
        assertNull(get(original, "new.z."));
        assertEquals("new", get(copy, "new.z."));
        assertEquals(3_000, original.size());
        assertEquals(2_001, copy.size());
    }

    @Test
    void put_moreThanExpected_grows() {
        NameMap<String> m = new NameMap<>(4);
        NameMap<String> before = null;
        for (int i = 0; i < 5_000; i++) {
            m.put(key("g" + i + ".z."), "v" + i);
            if (i == 100) {
                before = m;
                m = m.copy();
            }
        }
        for (int i = 0; i < 5_000; i++) {
            assertEquals("v" + i, get(m, "g" + i + ".z."));
            assertEquals(i <= 100 ? "v" + i : null, get(before, "g" + i + ".z."));
        }
        assertEquals(5_000, m.size());
        assertEquals(101, before.size());
    }

    @Test
    void get_anyLetterCase_found() {
        NameMap<String> m = new NameMap<>(4);
        m.put(key("web.portolan.internal."), "web");
        byte[] upper = Wire.name("web.portolan.internal.");
        for (int i = 0; i < 6; i++) {
            upper[i] = (byte) Character.toUpperCase(upper[i]); // "\3WEB\10PO..."
        }
        assertEquals("web", m.get(upper, 0, upper.length));
        byte[] other = "x".getBytes(StandardCharsets.US_ASCII);
        assertNull(m.get(other, 0, other.length));
    }
}
