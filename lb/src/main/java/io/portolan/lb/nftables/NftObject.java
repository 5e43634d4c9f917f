package io.portolan.lb.nftables;

import io.portolan.proto.Protocol;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * One object of portolan's table: a map element, a chain or a set, and the service it was rendered
 * for ({@link #owner()}: {@link Fragment#COMMON} for the table's fixed part, null when read back from
 * the kernel). {@link #key()} and {@link #value()} are the text nft reads and writes: an element's
 * key ({@code 10.96.0.10 . tcp . 80 . 3}) and data (a verdict like {@code goto slots_3}, or
 * {@code address . port}), a chain's name and rules (one per line), a set's name and declaration;
 * the value is null when read back without its content. {@link #container()} is the map of an
 * element and the hook header of a base chain (else empty).
 *
 * <p>Compact: the elements of the four maps, which are nearly all of the table (11 per service port
 * with 10 instances), hold their addresses, protocol and ports as numbers in one 32-byte object
 * ({@link Backend}, {@link Dispatch}), and their text is written only into a script or on demand. Any
 * other element (one read back that does not parse back to the same text) and every chain and set
 * hold strings ({@link Named}).
 *
 * <p>Identity ({@link #sameKey}, {@link #keyHash}): an element by its map and key text, a chain or a
 * set by its name. A compact element hashes its numbers; a text element whose key parses as a
 * compact key of its map hashes the same numbers (else its text), so a compact element and a text
 * one with the same key are the same object to {@link ObjectSet} whatever their class. Equality ({@link #equals}) is identity plus
 * content (container and value), as when every object was its strings; the owner is not part of it.
 */
abstract class NftObject {
    enum Kind { ELEMENT, CHAIN, SET }

    private final String owner;

    private NftObject(String owner) {
        this.owner = owner;
    }

    /** A chain; {@code header} is a base chain's hook header (else empty), {@code rules} one rule per line (null: unknown). */
    static NftObject chain(String name, String header, String rules, String owner) {
        return new Named(Kind.CHAIN, header, name, rules, owner);
    }

    /** A set; {@code declaration} null when read back. */
    static NftObject set(String name, String declaration, String owner) {
        return new Named(Kind.SET, "", name, declaration, owner);
    }

    /**
     * An element of {@code map} given as nft's text, with no owner (read back): compact when it is an
     * element of one of the four maps in the form nft writes (the parsers take only canonical text:
     * no leading zeros, known protocols, numbers in range), which the compact form writes back exactly;
     * else text.
     */
    static NftObject element(String map, String key, String value) {
        NftObject compact = switch (map) {
            case NftRender.BACKENDS, NftRender.PUBLISHED_BACKENDS -> Backend.parse(map.equals(NftRender.PUBLISHED_BACKENDS), key, value);
            case NftRender.VIPS, NftRender.PUBLISHED -> Dispatch.parse(map.equals(NftRender.PUBLISHED), key, value);
            default -> null;
        };
        return compact != null ? compact : new Named(Kind.ELEMENT, map, key, value, null);
    }

    /**
     * An element of {@code backends} ({@code vip . proto . port . slot → address . targetPort}) or, when
     * {@code published}, of {@code published_backends} (no VIP). Addresses are IPv4 as ints (network order).
     */
    static NftObject backend(String owner, boolean published, int vip, Protocol protocol, int port, int slot, int address, int targetPort) {
        if (slot > Character.MAX_VALUE) { // past the compact form's range (a frontend with over 65,535 backends)
            StringBuilder k = new StringBuilder();
            Backend.writeKey(k, published, vip, (byte) protocol.ordinal(), port, slot);
            return new Named(Kind.ELEMENT, published ? NftRender.PUBLISHED_BACKENDS : NftRender.BACKENDS, k.toString(),
                    appendIp(new StringBuilder(), address).append(" . ").append(targetPort).toString(), owner);
        }
        return new Backend(owner, published, vip, (byte) protocol.ordinal(), (char) port, (char) slot, address, (char) targetPort);
    }

    /** An element of {@code vips} ({@code vip . proto . port → verdict}) or, when {@code published}, of {@code published}. */
    static NftObject dispatch(String owner, boolean published, int vip, Protocol protocol, int port, String verdict) {
        return new Dispatch(owner, published, vip, (byte) protocol.ordinal(), (char) port, verdict);
    }

    abstract Kind kind();

    /** An element's map, a base chain's hook header, else empty. */
    abstract String container();

    /** The key (an element's) or the name (a chain's, a set's) as nft writes it. */
    String key() {
        StringBuilder b = new StringBuilder(32);
        appendKey(b);
        return b.toString();
    }

    abstract void appendKey(StringBuilder b);

    /**
     * A hash of the key text that is equal for keys with equal text whatever the class: a compact
     * element's from its numbers ({@link #compactKeyHash}); a text element's the same when its key
     * parses as a compact key of its map, else its text's {@code hashCode}.
     */
    abstract int keyTextHash();

    /** The hash a compact element of {@code map} with key text {@code key} has, or null when there can be none. */
    private static Integer compactKeyHash(String map, String key) {
        boolean published = map.equals(NftRender.PUBLISHED_BACKENDS) || map.equals(NftRender.PUBLISHED);
        boolean backend = map.equals(NftRender.BACKENDS) || map.equals(NftRender.PUBLISHED_BACKENDS);
        if (!backend && !published && !map.equals(NftRender.VIPS)) {
            return null;
        }
        Reader k = new Reader(key);
        int vip = 0;
        if (!published) {
            vip = k.ip();
            k.expect(DOT);
        }
        byte protocol = k.protocol();
        k.expect(DOT);
        int port = k.number(Character.MAX_VALUE);
        int slot = 0;
        if (backend) {
            k.expect(DOT);
            slot = k.number(Character.MAX_VALUE);
        }
        if (!k.end()) {
            return null;
        }
        return backend ? Backend.hash(vip, protocol, port, slot) : Dispatch.hash(vip, protocol, port);
    }

    /** An element's data, a chain's rules, a set's declaration; null when read back without it. */
    abstract String value();

    /** Appends {@link #value()}, which must not be null. */
    void appendValue(StringBuilder b) {
        b.append(value());
    }

    /** Whether {@link #value()} is there and not empty. */
    boolean hasValue() {
        String v = value();
        return v != null && !v.isEmpty();
    }

    /** The service this object was rendered for ({@link Fragment#COMMON}: the fixed part); null when read back. */
    final String owner() {
        return owner;
    }

    /** Unique within the table: elements by map and key, chains and sets by name. Built on each call (tests, logs, ordering). */
    final String id() {
        StringBuilder b = new StringBuilder(48);
        switch (kind()) {
            case ELEMENT -> b.append("e ").append(container()).append(' ');
            case CHAIN -> b.append("c ");
            case SET -> b.append("s ");
        }
        appendKey(b);
        return b.toString();
    }

    /** Hash of the identity: kind, map (elements) and key text. */
    final int keyHash() {
        int h = kind().ordinal() * 31;
        if (kind() == Kind.ELEMENT) {
            h += container().hashCode();
        }
        return h * 31 + keyTextHash();
    }

    /** Whether {@code o} is the same object of the table (content aside): same kind, map (elements) and key. */
    final boolean sameKey(NftObject o) {
        if (o == this) {
            return true;
        }
        if (kind() != o.kind()) {
            return false;
        }
        if (getClass() == o.getClass()) {
            return sameKeyAs(o);
        }
        return (kind() != Kind.ELEMENT || container().equals(o.container())) && keyTextHash() == o.keyTextHash() && key().equals(o.key());
    }

    /** {@link #sameKey} for an object of this class. */
    abstract boolean sameKeyAs(NftObject o);

    /** Same container and value (with {@link #sameKey}: equal). */
    boolean sameContent(NftObject o) {
        return Objects.equals(container(), o.container()) && Objects.equals(value(), o.value());
    }

    @Override
    public final boolean equals(Object o) {
        return o instanceof NftObject n && sameKey(n) && sameContent(n);
    }

    @Override
    public final int hashCode() {
        return keyHash();
    }

    @Override
    public String toString() {
        return "NftObject[kind=" + kind() + ", container=" + container() + ", key=" + key() + ", value=" + value() + ", owner=" + owner + "]";
    }

    /** Sorts {@code list} by the {@link #id()} of each item's object, building each id once. */
    static <T> void sortById(List<T> list, Function<T, NftObject> object) {
        if (list.size() < 2) {
            return;
        }
        List<Map.Entry<String, T>> keyed = new ArrayList<>(list.size());
        for (T t : list) {
            keyed.add(Map.entry(object.apply(t).id(), t));
        }
        keyed.sort(Map.Entry.comparingByKey());
        for (int i = 0; i < keyed.size(); i++) {
            list.set(i, keyed.get(i).getValue());
        }
    }

    // --- text of numbers, and the String.hashCode of that text without building it ---

    private static final String[] PROTOCOLS = {Protocol.TCP.lower(), Protocol.UDP.lower()};
    private static final String DOT = " . ";

    static StringBuilder appendIp(StringBuilder b, int ip) {
        return b.append(ip >>> 24).append('.').append((ip >>> 16) & 255).append('.').append((ip >>> 8) & 255).append('.').append(ip & 255);
    }

    /**
     * Reads nft's text of an element's key or value, part by part, without building strings: only the
     * canonical form nft writes (no sign, no leading zero, in range; {@code tcp}, {@code udp}), else
     * {@link #ok} turns false and stays false.
     */
    private static final class Reader {
        private final String s;
        private int at;
        boolean ok;

        Reader(String s) {
            this.s = s;
            this.ok = s != null;
        }

        /** A decimal in [0, max] ending at a non-digit or the end. */
        int number(int max) {
            int start = at;
            long v = 0;
            while (ok && at < s.length() && s.charAt(at) >= '0' && s.charAt(at) <= '9' && at - start < 10) {
                v = v * 10 + (s.charAt(at++) - '0');
            }
            int digits = at - start;
            ok = ok && digits > 0 && v <= max && !(digits > 1 && s.charAt(start) == '0');
            return ok ? (int) v : 0;
        }

        int ip() {
            int v = number(255);
            for (int i = 0; i < 3; i++) {
                expect(".");
                v = (v << 8) | number(255);
            }
            return v;
        }

        byte protocol() {
            for (int i = 0; i < PROTOCOLS.length; i++) {
                if (ok && s.startsWith(PROTOCOLS[i], at)) {
                    at += PROTOCOLS[i].length();
                    return (byte) i;
                }
            }
            ok = false;
            return 0;
        }

        void expect(String text) {
            ok = ok && s.startsWith(text, at);
            at += text.length();
        }

        /** Whether everything read was canonical and nothing is left. */
        boolean end() {
            return ok && at == s.length();
        }
    }

    // --- the classes ---

    /** Chains, sets and elements kept as text. */
    private static final class Named extends NftObject {
        private final Kind kind;
        private final String container;
        private final String key;
        private final String value;

        Named(Kind kind, String container, String key, String value, String owner) {
            super(owner);
            this.kind = Objects.requireNonNull(kind, "kind");
            this.container = container;
            this.key = key;
            this.value = value;
        }

        @Override
        Kind kind() {
            return kind;
        }

        @Override
        String container() {
            return container;
        }

        @Override
        String key() {
            return key;
        }

        @Override
        void appendKey(StringBuilder b) {
            b.append(key);
        }

        @Override
        int keyTextHash() {
            Integer compact = kind == Kind.ELEMENT ? compactKeyHash(container, key) : null;
            return compact != null ? compact : key.hashCode();
        }

        @Override
        String value() {
            return value;
        }

        @Override
        boolean sameKeyAs(NftObject o) {
            Named n = (Named) o;
            return (kind != Kind.ELEMENT || container.equals(n.container)) && key.equals(n.key);
        }
    }

    /** An element of {@code backends} or {@code published_backends}: {@code [vip . ]proto . port . slot : address . targetPort}. */
    private static final class Backend extends NftObject {
        private final boolean published;
        private final byte protocol;
        private final char port;
        private final char slot;
        private final char targetPort;
        private final int vip;
        private final int address;

        Backend(String owner, boolean published, int vip, byte protocol, char port, char slot, int address, char targetPort) {
            super(owner);
            this.published = published;
            this.vip = published ? 0 : vip; // not part of a published key
            this.protocol = protocol;
            this.port = port;
            this.slot = slot;
            this.address = address;
            this.targetPort = targetPort;
        }

        static Backend parse(boolean published, String key, String value) {
            Reader k = new Reader(key);
            int vip = 0;
            if (!published) {
                vip = k.ip();
                k.expect(DOT);
            }
            byte protocol = k.protocol();
            k.expect(DOT);
            int port = k.number(Character.MAX_VALUE);
            k.expect(DOT);
            int slot = k.number(Character.MAX_VALUE);
            Reader v = new Reader(value);
            int address = v.ip();
            v.expect(DOT);
            int targetPort = v.number(Character.MAX_VALUE);
            if (!k.end() || !v.end()) {
                return null;
            }
            return new Backend(null, published, vip, protocol, (char) port, (char) slot, address, (char) targetPort);
        }

        static void writeKey(StringBuilder b, boolean published, int vip, byte protocol, int port, int slot) {
            if (!published) {
                appendIp(b, vip).append(DOT);
            }
            b.append(PROTOCOLS[protocol]).append(DOT).append(port).append(DOT).append(slot);
        }

        @Override
        Kind kind() {
            return Kind.ELEMENT;
        }

        @Override
        String container() {
            return published ? NftRender.PUBLISHED_BACKENDS : NftRender.BACKENDS;
        }

        @Override
        void appendKey(StringBuilder b) {
            writeKey(b, published, vip, protocol, port, slot);
        }

        static int hash(int vip, byte protocol, int port, int slot) {
            return ((vip * 31 + protocol) * 31 + port) * 31 + slot;
        }

        @Override
        int keyTextHash() {
            return hash(vip, protocol, port, slot);
        }

        @Override
        String value() {
            StringBuilder b = new StringBuilder(24);
            appendValue(b);
            return b.toString();
        }

        @Override
        void appendValue(StringBuilder b) {
            appendIp(b, address).append(DOT).append((int) targetPort);
        }

        @Override
        boolean hasValue() {
            return true;
        }

        @Override
        boolean sameKeyAs(NftObject o) {
            Backend x = (Backend) o;
            return published == x.published && vip == x.vip && protocol == x.protocol && port == x.port && slot == x.slot;
        }

        @Override
        boolean sameContent(NftObject o) {
            if (o instanceof Backend x) {
                return address == x.address && targetPort == x.targetPort;
            }
            return super.sameContent(o);
        }
    }

    /** An element of {@code vips} or {@code published}: {@code [vip . ]proto . port : verdict}. */
    private static final class Dispatch extends NftObject {
        private final boolean published;
        private final byte protocol;
        private final char port;
        private final int vip;
        private final String verdict;

        Dispatch(String owner, boolean published, int vip, byte protocol, char port, String verdict) {
            super(owner);
            this.published = published;
            this.vip = published ? 0 : vip; // not part of a published key
            this.protocol = protocol;
            this.port = port;
            this.verdict = Objects.requireNonNull(verdict, "verdict");
        }

        static Dispatch parse(boolean published, String key, String value) {
            Reader k = new Reader(key);
            int vip = 0;
            if (!published) {
                vip = k.ip();
                k.expect(DOT);
            }
            byte protocol = k.protocol();
            k.expect(DOT);
            int port = k.number(Character.MAX_VALUE);
            if (!k.end() || value == null) {
                return null;
            }
            return new Dispatch(null, published, vip, protocol, (char) port, NftRender.verdict(value));
        }

        @Override
        Kind kind() {
            return Kind.ELEMENT;
        }

        @Override
        String container() {
            return published ? NftRender.PUBLISHED : NftRender.VIPS;
        }

        @Override
        void appendKey(StringBuilder b) {
            if (!published) {
                appendIp(b, vip).append(DOT);
            }
            b.append(PROTOCOLS[protocol]).append(DOT).append((int) port);
        }

        static int hash(int vip, byte protocol, int port) {
            return (vip * 31 + protocol) * 31 + port;
        }

        @Override
        int keyTextHash() {
            return hash(vip, protocol, port);
        }

        @Override
        String value() {
            return verdict;
        }

        @Override
        boolean sameKeyAs(NftObject o) {
            Dispatch x = (Dispatch) o;
            return published == x.published && vip == x.vip && protocol == x.protocol && port == x.port;
        }

        @Override
        boolean sameContent(NftObject o) {
            if (o instanceof Dispatch x) {
                return verdict.equals(x.verdict);
            }
            return super.sameContent(o);
        }
    }
}
