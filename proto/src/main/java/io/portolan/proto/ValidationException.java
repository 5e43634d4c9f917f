package io.portolan.proto;

/** A value that breaks the model's rules. The message names the field and the offending value. */
public final class ValidationException extends IllegalArgumentException {
    private final String field;
    private final String value;

    public ValidationException(String field, Object value, String rule) {
        super(field + " " + quote(value) + ": " + rule);
        this.field = field;
        this.value = String.valueOf(value);
    }

    public String field() {
        return field;
    }

    public String value() {
        return value;
    }

    static String quote(Object value) {
        if (value == null) {
            return "(missing)";
        }
        String s = String.valueOf(value);
        if (s.length() > 80) {
            s = s.substring(0, 77) + "...";
        }
        StringBuilder b = new StringBuilder(s.length() + 2).append('\'');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\x%02x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('\'').toString();
    }
}
