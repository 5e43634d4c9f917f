package io.portolan.proto;

import java.util.Locale;

/** Transport protocol of a port. */
public enum Protocol {
    TCP, UDP;

    public String lower() {
        return this == TCP ? "tcp" : "udp";
    }

    /** The protocol of a {@code .../tcp} or {@code .../udp} spec (TCP without a suffix); errors name the whole spec. */
    static Protocol ofSpec(String field, String spec) {
        int slash = spec.indexOf('/');
        if (slash < 0) {
            return TCP;
        }
        try {
            return parse(field, spec.substring(slash + 1));
        } catch (ValidationException e) {
            throw new ValidationException(field, spec, "the protocol after '/' is tcp or udp");
        }
    }

    public static Protocol parse(String field, String s) {
        if (s == null || s.isEmpty()) {
            return TCP;
        }
        switch (s.toLowerCase(Locale.ROOT)) {
            case "tcp":
                return TCP;
            case "udp":
                return UDP;
            default:
                throw new ValidationException(field, s, "a protocol is tcp or udp");
        }
    }
}
