package io.portolan.client;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Just enough JSON for the agent's API, by hand: strings written with every character outside
 * printable ASCII escaped (so a body is pure ASCII, whatever the strings hold), and a small strict
 * reader for the agent's replies, whose top-level fields are read by name and whose nested values
 * are parsed and kept only as far as the client needs (not at all).
 */
final class Json {
    private Json() {
    }

    /** Appends {@code s} as a JSON string literal. */
    static StringBuilder quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) {
                        out.append("\\u");
                        String hex = Integer.toHexString(c);
                        out.append("0".repeat(4 - hex.length())).append(hex);
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"');
    }

    static String quote(String s) {
        return quote(new StringBuilder(s.length() + 2), s).toString();
    }

    /**
     * The top-level fields of a JSON object: strings as {@link String}, numbers as {@link Long} (or
     * {@link Double} with a fraction or exponent), {@link Boolean}, null, and nested objects and
     * arrays as {@link Map} and {@link List}. Throws {@link IllegalArgumentException} on anything
     * that is not one whole JSON object.
     */
    static Map<String, Object> object(String text) {
        Reader r = new Reader(text);
        r.space();
        if (r.peek() != '{') {
            throw r.fail("expected an object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) r.value(0);
        r.space();
        if (r.pos != text.length()) {
            throw r.fail("text after the object");
        }
        return m;
    }

    /** A string field of an object, or null when it is missing, null or not a string. */
    static String string(Map<String, Object> o, String field) {
        return o.get(field) instanceof String s ? s : null;
    }

    private static final class Reader {
        private static final int MAX_DEPTH = 64;
        private final String s;
        int pos;

        Reader(String s) {
            this.s = s;
        }

        IllegalArgumentException fail(String what) {
            String near = s.substring(Math.max(0, pos - 20), Math.min(s.length(), pos + 20));
            return new IllegalArgumentException("not the JSON expected (" + what + " at offset " + pos + ", near '" + near + "')");
        }

        int peek() {
            return pos < s.length() ? s.charAt(pos) : -1;
        }

        void space() {
            while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t' || s.charAt(pos) == '\n' || s.charAt(pos) == '\r')) {
                pos++;
            }
        }

        void expect(char c) {
            space();
            if (peek() != c) {
                throw fail("expected '" + c + "'");
            }
            pos++;
        }

        Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw fail("nested too deep");
            }
            space();
            int c = peek();
            switch (c) {
                case '{' -> {
                    pos++;
                    Map<String, Object> m = new HashMap<>();
                    space();
                    if (peek() == '}') {
                        pos++;
                        return m;
                    }
                    while (true) {
                        space();
                        if (peek() != '"') {
                            throw fail("expected a field name");
                        }
                        String k = string();
                        expect(':');
                        m.put(k, value(depth + 1));
                        space();
                        if (peek() == ',') {
                            pos++;
                        } else if (peek() == '}') {
                            pos++;
                            return m;
                        } else {
                            throw fail("expected ',' or '}'");
                        }
                    }
                }
                case '[' -> {
                    pos++;
                    List<Object> l = new ArrayList<>();
                    space();
                    if (peek() == ']') {
                        pos++;
                        return l;
                    }
                    while (true) {
                        l.add(value(depth + 1));
                        space();
                        if (peek() == ',') {
                            pos++;
                        } else if (peek() == ']') {
                            pos++;
                            return l;
                        } else {
                            throw fail("expected ',' or ']'");
                        }
                    }
                }
                case '"' -> {
                    return string();
                }
                case 't' -> {
                    return word("true", Boolean.TRUE);
                }
                case 'f' -> {
                    return word("false", Boolean.FALSE);
                }
                case 'n' -> {
                    return word("null", null);
                }
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw fail("expected a value");
                }
            }
        }

        private Object word(String w, Object v) {
            if (!s.startsWith(w, pos)) {
                throw fail("expected " + w);
            }
            pos += w.length();
            return v;
        }

        private Object number() {
            int start = pos;
            if (peek() == '-') {
                pos++;
            }
            if (peek() == '0') {
                pos++;
            } else if (digits() == 0) {
                throw fail("expected digits");
            }
            boolean integral = true;
            if (peek() == '.') {
                pos++;
                integral = false;
                if (digits() == 0) {
                    throw fail("expected digits after '.'");
                }
            }
            if (peek() == 'e' || peek() == 'E') {
                pos++;
                integral = false;
                if (peek() == '+' || peek() == '-') {
                    pos++;
                }
                if (digits() == 0) {
                    throw fail("expected digits in the exponent");
                }
            }
            String n = s.substring(start, pos);
            if (integral) {
                try {
                    return Long.parseLong(n);
                } catch (NumberFormatException tooBig) {
                    return Double.parseDouble(n);
                }
            }
            return Double.parseDouble(n);
        }

        private int digits() {
            int n = 0;
            while (peek() >= '0' && peek() <= '9') {
                pos++;
                n++;
            }
            return n;
        }

        private String string() {
            pos++; // the opening quote
            StringBuilder b = new StringBuilder();
            while (true) {
                if (pos >= s.length()) {
                    throw fail("unterminated string");
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return b.toString();
                }
                if (c < 0x20) {
                    throw fail("a control character in a string");
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (pos >= s.length()) {
                    throw fail("unterminated escape");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"', '\\', '/' -> b.append(e);
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'u' -> {
                        if (pos + 4 > s.length()) {
                            throw fail("short \\u escape");
                        }
                        int v = 0;
                        for (int i = 0; i < 4; i++) {
                            int d = Character.digit(s.charAt(pos++), 16);
                            if (d < 0) {
                                throw fail("bad \\u escape");
                            }
                            v = v * 16 + d;
                        }
                        b.append((char) v);
                    }
                    default -> throw fail("bad escape '\\" + e + "'");
                }
            }
        }
    }
}
