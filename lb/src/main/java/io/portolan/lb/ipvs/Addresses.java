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

    /** Numeric order: shorter (IPv4) first, then byte by byte, unsigned. */
    static int compare(InetAddress a, InetAddress b) {
        if (a instanceof Inet4Address && b instanceof Inet4Address) {
            return Integer.compareUnsigned(a.hashCode(), b.hashCode()); // an Inet4Address's hash is its address
        }
        byte[] x = a.getAddress();
        byte[] y = b.getAddress();
        if (x.length != y.length) {
            return Integer.compare(x.length, y.length);
        }
        return java.util.Arrays.compareUnsigned(x, y);
    }
}
