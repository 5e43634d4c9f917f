package io.portolan.client;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The hand-written JSON: escaping on the way out, a strict reader on the way in. */
class JsonTest {
    @Test
    void quote_escapesQuotesBackslashesAndEverythingOutsidePrintableAscii() {
        assertEquals("\"plain web-1.x/y\"", Json.quote("plain web-1.x/y"));
        assertEquals("\"a\\\"b\\\\c\"", Json.quote("a\"b\\c"));
        assertEquals("\"\\n\\r\\t\\b\\f\\u0000\\u001f\\u007f\"", Json.quote("\n\r\t\b\f\u0000\u001f\u007f"));
        assertEquals("\"caf\\u00e9 \\u2028 \\ud83d\\ude00\"", Json.quote("caf\u00e9 \u2028 \ud83d\ude00"));
        assertEquals("\"\"", Json.quote(""));
    }

    @Test
    void object_readsTheAgentsReply() {
        Map<String, Object> o = Json.object("{\"service\":\"web\",\"id\":\"web-7239914cda\",\"node\":\"host1\",\"vip\":\"10.99.192.6\",\"ttl\":10}");
        assertEquals("web-7239914cda", Json.string(o, "id"));
        assertEquals("10.99.192.6", Json.string(o, "vip"));
        assertEquals(10L, o.get("ttl"));
        assertNull(Json.string(o, "missing"));
        assertNull(Json.string(o, "ttl"), "not a string");
    }

    @Test
    void object_skipsWhatItDoesNotNeed_nestedValuesWhitespaceAndEscapes() {
        Map<String, Object> o = Json.object(" {\n \"a\" : [1, -2.5e3, true, false, null, {\"b\": [[]], \"c\": {}}],\r\n"
                + "\t\"error\": \"bad \\\"x\\\" \\/ \\u00e9\\n\", \"n\": null, \"z\": -0 } ");
        assertEquals("bad \"x\" / \u00e9\n", Json.string(o, "error"));
        assertEquals(List.of(1L, -2500.0, true, false), ((List<?>) o.get("a")).subList(0, 4));
        assertTrue(o.containsKey("n"));
        assertEquals(0L, o.get("z"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "[]", "\"x\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1}x", "{\"a\":01}", "{\"a\":1.}",
            "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"unterminated}", "{\"a\":tru}", "{a:1}", "{\"a\":\"tab\there\"}",
            "{\"a\":[1 2]}", "{\"a\":-}", "<html>"})
    void object_refusesWhatIsNotOneObject(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.object(text));
        assertTrue(e.getMessage().startsWith("not the JSON expected"), e.getMessage());
    }

    @Test
    void object_refusesDeepNesting() {
        String deep = "{\"a\":" + "[".repeat(100) + "]".repeat(100) + "}";
        assertThrows(IllegalArgumentException.class, () -> Json.object(deep));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {"{\"error\":\"no instance web/1\"}|no instance web/1", "not json|not json",
            "{\"other\":1}|{\"other\":1}"})
    void replyError_isTheAgentsErrorField_elseTheBody(String body, String expected) {
        assertEquals(expected, new AgentHttp.Reply(404, body).error());
    }
}
