package io.portolan.proto;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FlagTest {
    static final List<Flag> TABLE = List.of(
            Flag.of("zone", "ZONE", "example.", "the zone"),
            Flag.of("a-very-long-flag-name-here", "ADDR:PORT,...", "(computed)", "long one"),
            Flag.toggle("dry-run", "print, do nothing"));

    @Test
    void help_oneLinePerFlag_meaningAndDefault() {
        String h = Flag.help(TABLE);
        assertTrue(h.contains("  --zone ZONE") && h.contains("the zone [default: example.]"), h);
        assertTrue(h.contains("--a-very-long-flag-name-here ADDR:PORT,...\n"), "a long usage gets its own line: " + h);
        assertTrue(h.contains("long one [default: (computed)]"), h);
        assertTrue(h.contains("  --dry-run") && h.contains("print, do nothing\n") && !h.contains("[default: off]"), h);
    }

    @Test
    void names_valuesAndSwitchesApart() {
        assertEquals(Set.of("zone", "a-very-long-flag-name-here"), Flag.valueNames(TABLE));
        assertEquals(Set.of("dry-run"), Flag.switchNames(TABLE));
        assertTrue(Flag.named(TABLE, "zone").literalDefault());
        assertFalse(Flag.named(TABLE, "a-very-long-flag-name-here").literalDefault());
        assertThrows(IllegalArgumentException.class, () -> Flag.named(TABLE, "nope"));
    }

    @Test
    void concat_firstRowOfANameWins() {
        List<Flag> c = Flag.concat(TABLE, List.of(Flag.of("zone", "Z", "other.", "another zone"), Flag.of("ttl", "S", "5", "ttl")));
        assertEquals(4, c.size());
        assertEquals("example.", Flag.named(c, "zone").dflt());
    }

    @Test
    void badRows_refused() {
        assertThrows(IllegalArgumentException.class, () -> Flag.of("--zone", "Z", "", "m"));
        assertThrows(IllegalArgumentException.class, () -> Flag.of("zone", "Z", "", " "));
        assertThrows(IllegalArgumentException.class, () -> Flag.of("zone", "Z", "", "two\nlines"));
    }
}
