package io.portolan.dns;

import io.portolan.proto.Validate;
import io.portolan.proto.ValidationException;
import java.net.Inet4Address;
import java.net.InetAddress;

/** A client network allowed recursion, e.g. {@code 172.16.0.0/12} or {@code ::1/128}; a bare address is a /32 or /128. */
public record ClientNetwork(InetAddress network, int prefix) {
    public ClientNetwork {
        int max = network instanceof Inet4Address ? 32 : 128;
        if (prefix < 0 || prefix > max) {
            throw new ValidationException("prefix", prefix, "a prefix length is 0-" + max);
        }
    }

    public static ClientNetwork parse(String field, String s) {
        if (s == null || s.isBlank()) {
            throw new ValidationException(field, s, "expected ADDRESS[/PREFIX], e.g. 172.16.0.0/12");
        }
        int slash = s.indexOf('/');
        InetAddress a;
        try {
            a = Validate.address(field, slash < 0 ? s : s.substring(0, slash));
        } catch (ValidationException e) {
            throw new ValidationException(field, s, "not an ADDRESS[/PREFIX] network: " + e.getMessage());
        }
        int max = a instanceof Inet4Address ? 32 : 128;
        int prefix = max;
        if (slash >= 0) {
            try {
                prefix = Integer.parseInt(s.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new ValidationException(field, s, "the prefix length is not a number");
            }
            if (prefix < 0 || prefix > max) {
                throw new ValidationException(field, s, "the prefix length must be 0-" + max);
            }
        }
        return new ClientNetwork(a, prefix);
    }

    /** True when {@code a} lies in this network (an IPv4-mapped IPv6 address counts as IPv4). */
    public boolean contains(InetAddress a) {
        byte[] x = a.getAddress();
        byte[] n = network.getAddress();
        if (x.length == 16 && n.length == 4 && isMapped(x)) {
            x = java.util.Arrays.copyOfRange(x, 12, 16);
        }
        if (x.length != n.length) {
            return false;
        }
        int full = prefix / 8;
        for (int i = 0; i < full; i++) {
            if (x[i] != n[i]) {
                return false;
            }
        }
        int rest = prefix % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xFF << (8 - rest)) & 0xFF;
        return (x[full] & mask) == (n[full] & mask);
    }

    private static boolean isMapped(byte[] x) {
        for (int i = 0; i < 10; i++) {
            if (x[i] != 0) {
                return false;
            }
        }
        return x[10] == (byte) 0xFF && x[11] == (byte) 0xFF;
    }

    @Override
    public String toString() {
        return network.getHostAddress() + "/" + prefix;
    }
}
