package io.portolan.lb.nftables;

import java.util.Objects;

/**
 * One object of portolan's table: a map element, a chain or a set. {@code value} is the element's
 * data (a verdict like {@code goto slots_3}, or {@code address . port}), a chain's rules (one per
 * line), or a set's declaration; {@code null} when read from the kernel without its content.
 * {@code container} is the map of an element and the hook header of a base chain (else empty).
 *
 * <p>A value class (equal by kind, container, key and value) that computes its {@link #id()} once:
 * the id keys both the service's fragment and the kernel table, which then share one string per
 * object instead of building one per look-up (at 100,000 elements that was 10 MB of heap).
 */
final class NftObject {
    enum Kind { ELEMENT, CHAIN, SET }

    private final Kind kind;
    private final String container;
    private final String key;
    private final String value;
    private final String id;

    NftObject(Kind kind, String container, String key, String value) {
        this.kind = Objects.requireNonNull(kind, "kind");
        this.container = container;
        this.key = key;
        this.value = value;
        this.id = switch (kind) {
            case ELEMENT -> "e " + container + " " + key;
            case CHAIN -> "c " + key;
            case SET -> "s " + key;
        };
    }

    static NftObject element(String map, String key, String value) {
        return new NftObject(Kind.ELEMENT, map, key, value);
    }

    static NftObject chain(String name, String header, String rules) {
        return new NftObject(Kind.CHAIN, header, name, rules);
    }

    static NftObject set(String name, String declaration) {
        return new NftObject(Kind.SET, "", name, declaration);
    }

    Kind kind() {
        return kind;
    }

    String container() {
        return container;
    }

    String key() {
        return key;
    }

    String value() {
        return value;
    }

    /** Unique within the table: elements by map and key, chains and sets by name. */
    String id() {
        return id;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NftObject n && kind == n.kind && Objects.equals(container, n.container) && Objects.equals(key, n.key)
                && Objects.equals(value, n.value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, container, key, value);
    }

    @Override
    public String toString() {
        return "NftObject[kind=" + kind + ", container=" + container + ", key=" + key + ", value=" + value + "]";
    }
}
