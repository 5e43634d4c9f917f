package io.portolan.proto;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Fields of a stored value that this version does not know, kept as raw JSON text in their
 * original order so that a read-modify-write round trip never drops them.
 */
public record Extras(Map<String, String> rawFields) {
    public static final Extras NONE = new Extras(Map.of());

    public Extras {
        rawFields = rawFields == null || rawFields.isEmpty()
                ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(rawFields));
    }

    public boolean isEmpty() {
        return rawFields.isEmpty();
    }
}
