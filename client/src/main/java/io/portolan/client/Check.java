package io.portolan.client;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;

/**
 * The agent's value rules, checked before anything is sent, so a mistake fails at the line that
 * made it: every message names the value and says what is allowed. The agent checks them again.
 */
final class Check {
    static final int MAX_METADATA = 64;

    private Check() {
    }

    static IllegalArgumentException bad(String what, Object value, String rule) {
        return new IllegalArgumentException(what + " " + (value == null ? "null" : "'" + value + "'") + ": " + rule);
    }

    static String serviceName(String name) {
        if (name == null || name.isEmpty() || name.length() > 63 || !isLabel(name)) {
            throw bad("service name", name, "an RFC 1123 label of 1-63 characters: lower-case letters, digits and '-', "
                    + "starting and ending with a letter or digit");
        }
        return name;
    }

    /** Port names become SRV labels ({@code _http._tcp}): RFC 6335 allows 15 characters. */
    static String portName(String name) {
        if (name == null || name.isEmpty() || name.length() > 15 || !isLabel(name)) {
            throw bad("port name", name, "a lower-case label of 1-15 characters (letters, digits, '-')");
        }
        return name;
    }

    static int port(String what, int port) {
        if (port < 1 || port > 65_535) {
            throw bad(what, port, "a port is 1-65535");
        }
        return port;
    }

    /** Instance ids: letters, digits, '.', '_', '-' (not first), at most 128. */
    static String id(String id) {
        boolean ok = id != null && !id.isEmpty() && id.length() <= 128;
        for (int i = 0; ok && i < id.length(); i++) {
            char c = id.charAt(i);
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || (i > 0 && (c == '.' || c == '_' || c == '-'));
        }
        if (!ok) {
            throw bad("instance id", id, "1-128 letters, digits, '.', '_' and '-' (not first)");
        }
        return id;
    }

    static int weight(int weight) {
        if (weight < 0 || weight > 10_000) {
            throw bad("weight", weight, "a weight is 0-10000 (0 drains the instance)");
        }
        return weight;
    }

    static int ttlSeconds(Duration ttl) {
        if (ttl == null || ttl.getNano() != 0 || ttl.getSeconds() < 2 || ttl.getSeconds() > 3_600) {
            throw bad("ttl", ttl, "a TTL is whole seconds, 2-3600 (etcd refuses shorter leases)");
        }
        return (int) ttl.getSeconds();
    }

    static Duration drain(Duration drain) {
        if (drain == null || drain.isNegative()) {
            throw bad("drain", drain, "a drain is zero or more");
        }
        return drain;
    }

    static String scheduler(String s) {
        boolean ok = s != null && !s.isEmpty() && s.length() <= 16;
        for (int i = 0; ok && i < s.length(); i++) {
            char c = s.charAt(i);
            ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i > 0 && c == '_');
        }
        if (!ok) {
            throw bad("scheduler", s, "1-16 lower-case letters, digits and '_' (rr, wrr, lc, p2c, sh, ...)");
        }
        return s;
    }

    static String metadataKey(String k) {
        boolean ok = k != null && !k.isEmpty() && k.length() <= 63;
        for (int i = 0; ok && i < k.length(); i++) {
            char c = k.charAt(i);
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
        }
        if (!ok) {
            throw bad("metadata key", k, "1-63 letters, digits, '.', '_', '-' and '/'");
        }
        return k;
    }

    static String metadataValue(String k, String v) {
        if (v == null || v.length() > 1024) {
            throw bad("metadata value of '" + k + "'", v == null ? null : v.length() > 40 ? v.substring(0, 40) + "..." : v,
                    "a value is at most 1024 characters");
        }
        return v;
    }

    /**
     * An IPv4 or IPv6 literal, never a hostname (nothing is resolved); not unspecified, multicast
     * or broadcast. Returns the address as the agent will store it.
     */
    static String address(String s) {
        String rule = "an IPv4 or IPv6 literal such as 10.0.0.5 or fd00::5, never a hostname";
        if (s == null || s.isEmpty() || s.length() > 45) {
            throw bad("address", s, rule);
        }
        InetAddress a;
        if (s.indexOf(':') < 0) {
            byte[] b = ipv4(s);
            if (b == null) {
                throw bad("address", s, rule);
            }
            try {
                a = InetAddress.getByAddress(b);
            } catch (UnknownHostException e) {
                throw new AssertionError(e);
            }
            if ((b[0] & 0xff) == 255) {
                throw bad("address", s, "a broadcast address cannot be an instance's");
            }
        } else {
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.')) {
                    throw bad("address", s, rule);
                }
            }
            try {
                a = InetAddress.getByName(s); // only hex digits, ':' and '.': a literal, never looked up
            } catch (UnknownHostException e) {
                throw bad("address", s, rule);
            }
            if (!(a instanceof Inet6Address)) {
                throw bad("address", s, "write an IPv4-mapped address as IPv4");
            }
        }
        if (a.isAnyLocalAddress() || a.isMulticastAddress()) {
            throw bad("address", s, "an unspecified or multicast address cannot be an instance's");
        }
        return a.getHostAddress();
    }

    /** Four decimal octets without leading zeros, or null. */
    static byte[] ipv4(String s) {
        String[] parts = s.split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        byte[] out = new byte[4];
        for (int i = 0; i < 4; i++) {
            String p = parts[i];
            if (p.isEmpty() || p.length() > 3 || (p.length() > 1 && p.charAt(0) == '0')) {
                return null;
            }
            int v = 0;
            for (int j = 0; j < p.length(); j++) {
                char c = p.charAt(j);
                if (c < '0' || c > '9') {
                    return null;
                }
                v = v * 10 + (c - '0');
            }
            if (v > 255) {
                return null;
            }
            out[i] = (byte) v;
        }
        return out;
    }

    /** The agent's base URL: http or https, a host, nothing after the port. */
    static URI agent(String what, String value) {
        URI u;
        try {
            u = URI.create(value);
        } catch (IllegalArgumentException | NullPointerException e) {
            throw bad(what, value, "an agent URL such as http://127.0.0.1:9190");
        }
        return agent(what, u);
    }

    static URI agent(String what, URI u) {
        if (u == null || u.getScheme() == null || !(u.getScheme().equals("http") || u.getScheme().equals("https"))
                || u.getHost() == null || (u.getRawPath() != null && !u.getRawPath().isEmpty() && !u.getRawPath().equals("/"))
                || u.getRawQuery() != null || u.getRawFragment() != null) {
            throw bad(what, u, "an agent URL is http://HOST:PORT (or https), with no path, e.g. http://127.0.0.1:9190");
        }
        return URI.create(u.getScheme() + "://" + u.getRawAuthority());
    }

    private static boolean isLabel(String s) {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            boolean alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
            if (!alnum && !(c == '-' && i > 0 && i < n - 1)) {
                return false;
            }
        }
        return true;
    }
}
