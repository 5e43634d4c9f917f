package io.portolan.proto;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KeyLayoutTest {
    final KeyLayout k = new KeyLayout("/portolan/");

    @Test
    void keys_roundTripThroughParse() {
        assertEquals(new KeyLayout.Key(KeyLayout.Kind.SERVICE, "web", null, null), k.parse(k.serviceKey("web")));
        assertEquals(new KeyLayout.Key(KeyLayout.Kind.INSTANCE, "web", "web-1", null), k.parse(k.instanceKey("web", "web-1")));
        assertEquals(KeyLayout.Kind.VIP, k.parse("/portolan/vips/10.99.0.1").kind());
        assertEquals(new KeyLayout.Key(KeyLayout.Kind.NODE, null, "host-1", null), k.parse(k.nodeKey("host-1")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"/other/services/web", "/portolan/services/Web", "/portolan/instances/web", "/portolan/instances/web/a/b",
            "/portolan/vips/host", "/portolan/junk/x", "/portolan/nodes/a/b", "/portolan/nodes/"})
    void parse_foreignKey_errorNamesKey(String key) {
        ValidationException e = assertThrows(ValidationException.class, () -> k.parse(key));
        assertTrue(e.getMessage().contains(key), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "portolan/", "/portolan", "/a//b/", "/a b/"})
    void prefix_invalid_rejected(String p) {
        assertThrows(ValidationException.class, () -> new KeyLayout(p));
    }
}
