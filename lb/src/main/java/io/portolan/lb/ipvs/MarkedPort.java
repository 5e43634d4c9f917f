package io.portolan.lb.ipvs;

import io.portolan.proto.Protocol;

import java.net.InetAddress;

/**
 * What a firewall mark stands for: traffic to {@code vip:port/protocol}, or, when {@code vip} is
 * null, a published (routing-mesh) port: traffic to any local address on {@code port/protocol}.
 */
record MarkedPort(Protocol protocol, InetAddress vip, int port) implements Comparable<MarkedPort> {

    boolean published() {
        return vip == null;
    }

    /** The text the mark is hashed from, e.g. {@code tcp 10.99.0.5:80} or {@code tcp *:8080}. */
    String key() {
        return protocol.lower() + " " + (vip == null ? "*" : vip.getHostAddress()) + ":" + port;
    }

    @Override
    public int compareTo(MarkedPort o) {
        // published ports first, then by VIP (numerically), port, protocol; hot in render: no allocation
        if (vip != o.vip) {
            if (vip == null) {
                return -1;
            }
            if (o.vip == null) {
                return 1;
            }
            int c = Addresses.compare(vip, o.vip);
            if (c != 0) {
                return c;
            }
        }
        int c = Integer.compare(port, o.port);
        return c != 0 ? c : protocol.compareTo(o.protocol);
    }

    @Override
    public String toString() {
        return key();
    }
}
