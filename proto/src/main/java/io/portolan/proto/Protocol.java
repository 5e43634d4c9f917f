package io.portolan.proto;

import java.util.Locale;

/** Transport protocol of a port. */
public enum Protocol {
    TCP, UDP;

    public String lower() {
        return this == TCP ? "tcp" : "udp";
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
