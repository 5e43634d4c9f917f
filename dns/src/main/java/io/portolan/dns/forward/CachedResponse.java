package io.portolan.dns.forward;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.portolan.dns.answer.Responses;
import io.portolan.dns.answer.WireQuery;

/**
 * An upstream response kept as wire bytes (ID 0, question lower-cased, upstream OPT removed), with
 * the offset of every record's TTL so an answer from the cache counts the TTLs down without
 * parsing the message again.
 */
public final class CachedResponse {
    final byte[] wire;
    final int[] ttlOffsets;
    final int[] ttls;
    final long storedNanos;
    final long expiresNanos;

    CachedResponse(byte[] wire, int[] ttlOffsets, int[] ttls, long storedNanos, long expiresNanos) {
        this.wire = wire;
        this.ttlOffsets = ttlOffsets;
        this.ttls = ttls;
        this.storedNanos = storedNanos;
        this.expiresNanos = expiresNanos;
    }

    public int rcode() {
        return wire[3] & 0xF;
    }

    int size() {
        return wire.length;
    }

    boolean expired(long now) {
        return now - expiresNanos >= 0;
    }

    /**
     * Writes this response for a client query: the client's ID, RD and CD bits, RA set, the
     * client's question bytes, TTLs reduced by the time spent in the cache, and an OPT record when
     * the client sent one. Larger than {@code maxSize}: the truncated form (TC set).
     */
    public ByteBuf write(ByteBufAllocator alloc, WireQuery q, long nowNanos, int maxSize) {
        int opt = q.edns() ? 11 : 0;
        int question = q.questionEnd() - WireQuery.HEADER;
        boolean truncated = wire.length + opt > maxSize;
        int flags = 0x8080 | (q.flags() & 0x0110) | (wire[3] & 0xF) | (truncated ? 0x0200 : 0);
        ByteBuf out;
        if (truncated) {
            out = alloc.ioBuffer(WireQuery.HEADER + question + opt);
            out.writeShort(q.id()).writeShort(flags).writeShort(1).writeShort(0).writeShort(0).writeShort(q.edns() ? 1 : 0);
            out.writeBytes(q.bytes(), WireQuery.HEADER, question);
        } else {
            out = alloc.ioBuffer(wire.length + opt);
            int base = out.writerIndex();
            out.writeBytes(wire);
            out.setShort(base, q.id());
            out.setShort(base + 2, flags);
            if (q.edns()) {
                out.setShort(base + 10, ((wire[10] & 0xFF) << 8 | (wire[11] & 0xFF)) + 1);
            }
            out.setBytes(base + WireQuery.HEADER, q.bytes(), WireQuery.HEADER, question);
            long age = (nowNanos - storedNanos) / 1_000_000_000L;
            for (int i = 0; i < ttlOffsets.length; i++) {
                out.setInt(base + ttlOffsets[i], (int) Math.max(0, ttls[i] - age));
            }
        }
        if (q.edns()) {
            Responses.writeOpt(out, 0, q.dnssecOk());
        }
        return out;
    }
}
