package io.portolan.lb.ipvs;

import io.portolan.proto.Protocol;

import java.net.InetAddress;
import java.util.Comparator;

/**
 * What a firewall mark stands for: traffic to {@code vip:port/protocol}, or, when {@code vip} is
 * null, a published (routing-mesh) port: traffic to any local address on {@code port/protocol}.
 */
record Frontend(Protocol protocol, InetAddress vip, int port) implements Comparable<Frontend> {
    private static final Comparator<Frontend> ORDER = Comparator
            .comparing((Frontend f) -> f.vip == null ? "" : Addresses.sortKey(f.vip))
            .thenComparingInt(Frontend::port)
            .thenComparing(Frontend::protocol);

    boolean published() {
        return vip == null;
    }

    /** The text the mark is hashed from, e.g. {@code tcp 10.99.0.5:80} or {@code tcp *:8080}. */
    String key() {
        return protocol.lower() + " " + (vip == null ? "*" : vip.getHostAddress()) + ":" + port;
    }

    @Override
    public int compareTo(Frontend o) {
        return ORDER.compare(this, o);
    }

    @Override
    public String toString() {
        return key();
    }
}
