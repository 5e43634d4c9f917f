package io.portolan.proto;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;

/**
 * The rules for every value that enters the model. Each check throws {@link ValidationException}
 * naming the field and the value; none performs I/O (address literals are parsed, never resolved).
 *
 * <ul>
 *   <li>service name: an RFC 1123 label, lower case, 1-63 characters</li>
 *   <li>instance id, node name: {@code [A-Za-z0-9][A-Za-z0-9._-]*}, at most 128 characters</li>
 *   <li>port: 1-65535; port name: lower-case label of at most 15 characters (as an SRV service)</li>
 *   <li>weight: {@value #MIN_WEIGHT}-{@value #MAX_WEIGHT} (0 drains the instance)</li>
 *   <li>ttl: {@value #MIN_TTL}-{@value #MAX_TTL} seconds</li>
 * </ul>
 */
public final class Validate {
    public static final int MIN_WEIGHT = 0;
    public static final int MAX_WEIGHT = 10_000;
    public static final int DEFAULT_WEIGHT = 100;
    /** etcd refuses leases shorter than its minimum (about 2 s with default election timing). */
    public static final int MIN_TTL = 2;
    public static final int MAX_TTL = 3_600;
    public static final int DEFAULT_TTL = 10;
    public static final int MAX_ID = 128;
    public static final int MAX_METADATA = 64;
    public static final int MAX_METADATA_VALUE = 1024;

    private Validate() {
    }

    public static String serviceName(String field, String name) {
        if (name == null || name.isEmpty()) {
            throw new ValidationException(field, name, "a service name is required");
        }
        if (name.length() > 63) {
            throw new ValidationException(field, name, "a service name is at most 63 characters (an RFC 1123 label)");
        }
        if (!isLabel(name, false)) {
            throw new ValidationException(field, name,
                    "a service name is an RFC 1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit");
        }
        return name;
    }

    /** Port names become SRV service labels ({@code _http._tcp}): RFC 6335 allows 15 characters. */
    public static String portName(String field, String name) {
        if (name == null || name.isEmpty()) {
            return "";
        }
        if (name.length() > 15 || !isLabel(name, false)) {
            throw new ValidationException(field, name,
                    "a port name is a lower-case label of at most 15 characters (letters, digits, '-')");
        }
        return name;
    }

    static boolean isLabel(String s, boolean allowUpper) {
        int n = s.length();
        if (n == 0 || n > 63) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            boolean alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (allowUpper && c >= 'A' && c <= 'Z');
            if (!alnum && !(c == '-' && i > 0 && i < n - 1)) {
                return false;
            }
        }
        return true;
    }

    public static String id(String field, String id) {
        if (id == null || id.isEmpty()) {
            throw new ValidationException(field, id, "required");
        }
        if (id.length() > MAX_ID) {
            throw new ValidationException(field, id, "at most " + MAX_ID + " characters");
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || (i > 0 && (c == '.' || c == '_' || c == '-'));
            if (!ok) {
                throw new ValidationException(field, id,
                        "only letters, digits, '.', '_' and '-' (not first) are allowed");
            }
        }
        return id;
    }

    public static int port(String field, long port) {
        if (port < 1 || port > 65_535) {
            throw new ValidationException(field, port, "a port is 1-65535");
        }
        return (int) port;
    }

    public static int weight(String field, long weight) {
        if (weight < MIN_WEIGHT || weight > MAX_WEIGHT) {
            throw new ValidationException(field, weight, "a weight is " + MIN_WEIGHT + "-" + MAX_WEIGHT);
        }
        return (int) weight;
    }

    public static int ttl(String field, long ttl) {
        if (ttl < MIN_TTL || ttl > MAX_TTL) {
            throw new ValidationException(field, ttl, "a TTL is " + MIN_TTL + "-" + MAX_TTL + " seconds");
        }
        return (int) ttl;
    }

    public static String scheduler(String field, String s) {
        if (s == null || s.isEmpty() || s.length() > 16) {
            throw new ValidationException(field, s, "a scheduler name is 1-16 characters");
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '_'))) {
                throw new ValidationException(field, s, "a scheduler name is lower-case letters, digits and '_'");
            }
        }
        return s;
    }

    public static Map<String, String> metadata(String field, Map<String, String> m) {
        if (m == null) {
            return Map.of();
        }
        if (m.size() > MAX_METADATA) {
            throw new ValidationException(field, m.size() + " entries", "at most " + MAX_METADATA + " entries");
        }
        for (Map.Entry<String, String> e : m.entrySet()) {
            String k = e.getKey();
            if (k == null || k.isEmpty() || k.length() > 63) {
                throw new ValidationException(field + " key", k, "1-63 characters");
            }
            for (int i = 0; i < k.length(); i++) {
                char c = k.charAt(i);
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                        || c == '.' || c == '_' || c == '-' || c == '/')) {
                    throw new ValidationException(field + " key", k, "letters, digits, '.', '_', '-' and '/' only");
                }
            }
            String v = e.getValue();
            if (v == null || v.length() > MAX_METADATA_VALUE) {
                throw new ValidationException(field + "." + k, v, "a value of at most " + MAX_METADATA_VALUE + " characters");
            }
        }
        return Map.copyOf(m);
    }

    /**
     * Parses an IPv4 or IPv6 literal without any name resolution. Zone ids ({@code %eth0}) and
     * IPv4-mapped forms are refused; a hostname is refused.
     */
    public static InetAddress address(String field, String s) {
        if (s == null || s.isEmpty()) {
            throw new ValidationException(field, s, "an IPv4 or IPv6 address is required");
        }
        if (s.length() > 45) {
            throw new ValidationException(field, s, "not an IPv4 or IPv6 address");
        }
        if (s.indexOf(':') < 0) {
            byte[] b = parseIpv4(s);
            if (b == null) {
                throw new ValidationException(field, s, "not an IPv4 address (expected four decimal octets, e.g. 10.0.0.5)");
            }
            try {
                return InetAddress.getByAddress(b);
            } catch (UnknownHostException e) {
                throw new AssertionError(e);
            }
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.')) {
                throw new ValidationException(field, s, "not an IPv6 address");
            }
        }
        try {
            // A literal made only of hex digits, ':' and '.' is never resolved by getByName.
            InetAddress a = InetAddress.getByName(s);
            if (!(a instanceof Inet6Address)) {
                throw new ValidationException(field, s, "IPv4-mapped IPv6 addresses are not accepted; write the IPv4 address");
            }
            return a;
        } catch (UnknownHostException e) {
            throw new ValidationException(field, s, "not an IPv6 address");
        }
    }

    /** A usable unicast address for an instance or a VIP: not unspecified, not multicast. */
    public static InetAddress unicast(String field, String s) {
        InetAddress a = address(field, s);
        if (a.isAnyLocalAddress() || a.isMulticastAddress()) {
            throw new ValidationException(field, s, "an unspecified or multicast address cannot be used");
        }
        if (a instanceof Inet4Address && (a.getAddress()[0] & 0xff) == 255) {
            throw new ValidationException(field, s, "a broadcast address cannot be used");
        }
        return a;
    }

    static byte[] parseIpv4(String s) {
        byte[] out = new byte[4];
        int part = 0;
        int value = -1;
        int digits = 0;
        for (int i = 0; i <= s.length(); i++) {
            char c = i < s.length() ? s.charAt(i) : '.';
            if (c == '.') {
                if (value < 0 || part > 3) {
                    return null;
                }
                out[part++] = (byte) value;
                value = -1;
                digits = 0;
            } else if (c >= '0' && c <= '9') {
                if (digits > 0 && value == 0) {
                    return null; // leading zero: ambiguous (octal in some parsers)
                }
                value = (value < 0 ? 0 : value * 10) + (c - '0');
                if (++digits > 3 || value > 255) {
                    return null;
                }
            } else {
                return null;
            }
        }
        return part == 4 ? out : null;
    }
}
