package io.portolan.lb.ipvs;

import io.portolan.proto.Validate;

import java.net.Inet4Address;
import java.net.InetAddress;

/** Address helpers: parsing kernel output without name resolution, and a numeric sort key. */
final class Addresses {
    private Addresses() {
    }

    /** Parses an IPv4 literal found in a tool's output; never resolves a name. */
    static Inet4Address ipv4(String field, String s) {
        InetAddress a = Validate.address(field, s);
        if (!(a instanceof Inet4Address v4)) {
            throw new IllegalArgumentException(field + ": not IPv4: " + s);
        }
        return v4;
    }

    static String sortKey(InetAddress a) {
        StringBuilder b = new StringBuilder(a.getAddress().length * 2);
        for (byte x : a.getAddress()) {
            b.append(String.format("%02x", x & 0xff));
        }
        return b.toString();
    }
}
