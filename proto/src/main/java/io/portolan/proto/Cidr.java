package io.portolan.proto;

import java.math.BigInteger;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;

/** An IPv4 or IPv6 prefix, e.g. {@code 10.99.0.0/16}; the pool VIPs are allocated from. */
public final class Cidr {
    private final InetAddress network;
    private final int prefix;
    private final int bits;
    private final BigInteger base;
    private final BigInteger size;

    private Cidr(InetAddress network, int prefix) {
        this.network = network;
        this.prefix = prefix;
        this.bits = network instanceof Inet4Address ? 32 : 128;
        this.base = new BigInteger(1, network.getAddress());
        this.size = BigInteger.ONE.shiftLeft(bits - prefix);
    }

    public static Cidr parse(String field, String s) {
        if (s == null) {
            throw new ValidationException(field, null, "expected ADDRESS/PREFIX, e.g. 10.99.0.0/16");
        }
        int slash = s.indexOf('/');
        if (slash < 0) {
            throw new ValidationException(field, s, "expected ADDRESS/PREFIX, e.g. 10.99.0.0/16");
        }
        InetAddress a;
        try {
            a = Validate.address(field, s.substring(0, slash));
        } catch (ValidationException e) {
            throw new ValidationException(field, s, "the network is not an IP address");
        }
        int max = a instanceof Inet4Address ? 32 : 128;
        int prefix;
        try {
            prefix = Integer.parseInt(s.substring(slash + 1));
        } catch (NumberFormatException e) {
            throw new ValidationException(field, s, "the prefix length is not a number");
        }
        if (prefix < (max == 32 ? 8 : 64) || prefix > max - 2) {
            throw new ValidationException(field, s, "the prefix length must be " + (max == 32 ? "8-30" : "64-126")
                    + " (room for at least two VIPs)");
        }
        BigInteger v = new BigInteger(1, a.getAddress());
        BigInteger hostMask = BigInteger.ONE.shiftLeft(max - prefix).subtract(BigInteger.ONE);
        if (!v.and(hostMask).equals(BigInteger.ZERO)) {
            throw new ValidationException(field, s, "host bits are set; did you mean the network address?");
        }
        return new Cidr(a, prefix);
    }

    /** Usable addresses: the network and (IPv4) broadcast addresses are never handed out. */
    public long usable() {
        BigInteger u = size.subtract(BigInteger.TWO);
        return u.bitLength() > 62 ? Long.MAX_VALUE : u.longValueExact();
    }

    /**
     * The {@code attempt}-th candidate VIP for a service: a hash of the name picks a starting
     * point, then the pool is probed linearly. Every node computes the same sequence.
     */
    public InetAddress candidate(String serviceName, long attempt) {
        CRC32 crc = new CRC32();
        crc.update(serviceName.getBytes(StandardCharsets.UTF_8));
        long usable = usable();
        long start = Long.remainderUnsigned(crc.getValue() * 0x9E3779B97F4A7C15L, usable);
        long offset = 1 + Long.remainderUnsigned(start + attempt, usable);
        return at(offset);
    }

    InetAddress at(long offset) {
        BigInteger v = base.add(BigInteger.valueOf(offset));
        byte[] raw = v.toByteArray();
        byte[] out = new byte[bits / 8];
        int copy = Math.min(raw.length, out.length);
        System.arraycopy(raw, raw.length - copy, out, out.length - copy, copy);
        try {
            return InetAddress.getByAddress(out);
        } catch (UnknownHostException e) {
            throw new AssertionError(e);
        }
    }

    /** Whether every address of the pool is a loopback address (inside 127.0.0.0/8): local already, on any host. */
    public boolean loopback() {
        return bits == 32 && network.isLoopbackAddress();
    }

    public boolean contains(InetAddress a) {
        if ((a instanceof Inet4Address) != (bits == 32)) {
            return false;
        }
        BigInteger v = new BigInteger(1, a.getAddress());
        return v.compareTo(base) >= 0 && v.compareTo(base.add(size)) < 0;
    }

    @Override
    public String toString() {
        return network.getHostAddress() + "/" + prefix;
    }
}
