package io.portolan.lb.nftables;

/**
 * One object of portolan's table: a map element, a chain or a set. {@code value} is the element's
 * data (a verdict like {@code goto slots_3}, or {@code address . port}), a chain's rules (one per
 * line), or a set's declaration; {@code null} when read from the kernel without its content.
 * {@code container} is the map of an element and the hook header of a base chain (else empty).
 */
record NftObject(Kind kind, String container, String key, String value) {
    enum Kind { ELEMENT, CHAIN, SET }

    static NftObject element(String map, String key, String value) {
        return new NftObject(Kind.ELEMENT, map, key, value);
    }

    static NftObject chain(String name, String header, String rules) {
        return new NftObject(Kind.CHAIN, header, name, rules);
    }

    static NftObject set(String name, String declaration) {
        return new NftObject(Kind.SET, "", name, declaration);
    }

    /** Unique within the table: elements by map and key, chains and sets by name. */
    String id() {
        return switch (kind) {
            case ELEMENT -> "e " + container + " " + key;
            case CHAIN -> "c " + key;
            case SET -> "s " + key;
        };
    }
}
