package io.portolan.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ValuesTest {
    private static final Duration DAY = Duration.ofDays(1);

    @ParameterizedTest
    @CsvSource({"250ms, 250", "5s, 5000", "2m, 120000", "1h, 3600000", "' 7s ', 7000", "0, 0"})
    void duration_withUnit_parsed(String text, long millis) {
        assertEquals(Duration.ofMillis(millis), Values.duration("--x", text, Duration.ZERO, DAY));
    }

    @Test
    void duration_bareNumber_refusedNamingFlagValueAndExample() {
        ValidationException e = assertThrows(ValidationException.class, () -> Values.duration("--lb-idle-timeout", "5", Duration.ZERO, DAY));
        assertEquals("--lb-idle-timeout", e.field());
        assertEquals("5", e.value());
        assertTrue(e.getMessage().contains("5s") && e.getMessage().contains("5ms"), e.getMessage());
    }

    @Test
    void duration_zeroWhereZeroIsOutOfRange_refused() {
        ValidationException e = assertThrows(ValidationException.class,
                () -> Values.duration("--dns-forward-timeout", "0", Duration.ofMillis(10), DAY));
        assertFalse(e.getMessage().contains("means off"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "s", "1.5s", "-1s", "5 s", "5sec", "5d", "1e3ms", "9999999999999s", "+5s"})
    void duration_malformed_refused(String text) {
        ValidationException e = assertThrows(ValidationException.class, () -> Values.duration("--x", text, Duration.ZERO, DAY));
        assertEquals("--x", e.field());
    }

    @Test
    void duration_outOfRange_refusedWithTheRangeInTheGrammar() {
        ValidationException e = assertThrows(ValidationException.class,
                () -> Values.duration("--x", "48h", Duration.ofMillis(100), DAY));
        assertTrue(e.getMessage().contains("from 100ms to 24h"), e.getMessage());
    }

    @Test
    void wholeSeconds_fractionRefused() {
        assertEquals(Duration.ofMinutes(2), Values.wholeSeconds("--x", "2m", Duration.ofSeconds(1), DAY));
        assertThrows(ValidationException.class, () -> Values.wholeSeconds("--x", "1500ms", Duration.ofSeconds(1), DAY));
    }

    @Test
    void integer_rangeAndJunk() {
        assertEquals(42, Values.integer("--n", "42", 0, 100));
        assertThrows(ValidationException.class, () -> Values.integer("--n", "101", 0, 100));
        assertThrows(ValidationException.class, () -> Values.integer("--n", "4x", 0, 100));
        assertThrows(ValidationException.class, () -> Values.integer("--n", null, 0, 100));
        assertThrows(ValidationException.class, () -> Values.integer("--n", "99999999999999999999", 0L, Long.MAX_VALUE));
    }

    @ParameterizedTest
    @CsvSource({"4096, 4096", "512k, 524288", "16m, 16777216", "1G, 1073741824", "0, 0"})
    void size_units(String text, long bytes) {
        assertEquals(bytes, Values.size("--s", text, 0, 1L << 40));
    }

    @ParameterizedTest
    @ValueSource(strings = {"lots", "16mb", "-1", "1.5m", "k", ""})
    void size_malformed_refused(String text) {
        assertEquals("--s", assertThrows(ValidationException.class, () -> Values.size("--s", text, 0, 1L << 40)).field());
    }

    @Test
    void bool_trueFalseOnly() {
        assertTrue(Values.bool("--b", "true"));
        assertFalse(Values.bool("--b", "false"));
        assertThrows(ValidationException.class, () -> Values.bool("--b", "yes"));
    }

    @Test
    void text_roundTrips() {
        for (String s : new String[]{"250ms", "5s", "2m", "1h", "0", "1500ms", "90s"}) {
            assertEquals(s, Values.text(Values.duration("--x", s, Duration.ZERO, DAY)));
        }
    }
}
