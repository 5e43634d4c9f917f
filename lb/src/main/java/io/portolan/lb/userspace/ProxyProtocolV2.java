package io.portolan.lb.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.net.Inet4Address;
import java.nio.ByteBuffer;
import java.net.InetSocketAddress;

/** The PROXY protocol v2 header (haproxy's proxy-protocol.txt, section 2.2): PROXY command, TCP over IPv4 or IPv6. */
final class ProxyProtocolV2 {
    static final byte[] SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

    private ProxyProtocolV2() {
    }

    /** The header for a connection from {@code client} to {@code destination} (the VIP:port). */
    static ByteBuf header(ByteBufAllocator alloc, InetSocketAddress client, InetSocketAddress destination) {
        byte[] h = header(client, destination);
        return alloc.buffer(h.length).writeBytes(h);
    }

    /** The header for a connection from {@code client} to {@code destination} (the VIP:port). */
    static byte[] header(InetSocketAddress client, InetSocketAddress destination) {
        byte[] src = client.getAddress().getAddress();
        byte[] dst = destination.getAddress().getAddress();
        boolean v4 = client.getAddress() instanceof Inet4Address && destination.getAddress() instanceof Inet4Address;
        if (!v4 && (src.length == 4 || dst.length == 4)) {
            src = mapped(src);
            dst = mapped(dst);
        }
        int addrLen = v4 ? 12 : 36;
        ByteBuffer b = ByteBuffer.allocate(16 + addrLen);
        b.put(SIGNATURE);
        b.put((byte) 0x21);                 // version 2, PROXY
        b.put((byte) (v4 ? 0x11 : 0x21));   // AF_INET or AF_INET6, STREAM
        b.putShort((short) addrLen);
        b.put(src);
        b.put(dst);
        b.putShort((short) client.getPort());
        b.putShort((short) destination.getPort());
        return b.array();
    }

    private static byte[] mapped(byte[] a) {
        if (a.length == 16) {
            return a;
        }
        byte[] m = new byte[16];
        m[10] = (byte) 0xff;
        m[11] = (byte) 0xff;
        System.arraycopy(a, 0, m, 12, 4);
        return m;
    }
}
