package io.portolan.dns.answer;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes responses: a header built from the query and the answer, the client's question copied
 * byte for byte (its letter case and type preserved), the precomputed records, and an OPT record
 * when the client sent one. An answer larger than {@code maxSize} is replaced by its truncated
 * form: header with TC, question, OPT; the client retries over TCP.
 */
public final class Responses {
    /** The UDP payload size this server advertises and answers within (DNS flag day 2020). */
    public static final int SERVER_UDP_SIZE = 1232;
    static final int OPT_LENGTH = 11;

    private Responses() {
    }

    /** The most a UDP answer to this query may hold: the client's EDNS size capped at ours, at least 512. */
    public static int udpLimit(WireQuery q) {
        return q.edns ? Math.max(512, Math.min(q.udpSize, SERVER_UDP_SIZE)) : 512;
    }

    public static ByteBuf write(ByteBufAllocator alloc, WireQuery q, Answer a, int maxSize, boolean recursionAvailable) {
        ByteBuf out = alloc.ioBuffer(size(q, a, maxSize));
        writeTo(out, q, a, maxSize, recursionAvailable);
        return out;
    }

    /** The bytes {@link #writeTo} appends for this query and answer within {@code maxSize}. */
    public static int size(WireQuery q, Answer a, int maxSize) {
        int fixed = WireQuery.HEADER + (q.questionEnd() - WireQuery.HEADER) + (q.edns ? OPT_LENGTH : 0);
        int size = fixed + a.body.length;
        return size > maxSize ? fixed : size;
    }

    /** Appends the response to {@code out}: truncated (TC, question only) when it exceeds {@code maxSize}. */
    public static void writeTo(ByteBuf out, WireQuery q, Answer a, int maxSize, boolean recursionAvailable) {
        int question = q.questionEnd() - WireQuery.HEADER;
        int size = WireQuery.HEADER + question + a.body.length + (q.edns ? OPT_LENGTH : 0);
        boolean truncated = size > maxSize;
        int flags = 0x8000 | (q.flags & 0x0110) | (a.authoritative ? 0x0400 : 0) | (recursionAvailable ? 0x0080 : 0)
                | (truncated ? 0x0200 : 0) | (a.rcode & 0xF);
        out.writeShort(q.id).writeShort(flags).writeShort(q.hasQuestion() ? 1 : 0);
        if (truncated) {
            out.writeShort(0).writeShort(0).writeShort(q.edns ? 1 : 0);
        } else {
            out.writeShort(a.an).writeShort(a.ns).writeShort(a.ar + (q.edns ? 1 : 0));
        }
        out.writeBytes(q.buf, WireQuery.HEADER, question);
        if (!truncated) {
            writeBody(out, a);
        }
        if (q.edns) {
            writeOpt(out, a.rcode >>> 4, q.dnssecOk);
        }
    }

    private static void writeBody(ByteBuf out, Answer a) {
        int len = a.shuffleLength;
        if (len == 0) {
            out.writeBytes(a.body);
            return;
        }
        int n = a.an;
        int base = out.writerIndex();
        ThreadLocalRandom rnd = ThreadLocalRandom.current();
        // Inside-out Fisher-Yates, writing record i to a random slot: a uniform permutation.
        int[] slot = new int[n];
        for (int i = 0; i < n; i++) {
            int j = rnd.nextInt(i + 1);
            slot[i] = slot[j];
            slot[j] = i;
        }
        out.ensureWritable(a.body.length);
        for (int i = 0; i < n; i++) {
            out.setBytes(base + i * len, a.body, slot[i] * len, len);
        }
        int records = n * len;
        out.writerIndex(base + records);
        out.writeBytes(a.body, records, a.body.length - records);
    }

    /** An OPT record with this server's UDP size, the extended rcode bits and the client's DO bit. */
    public static void writeOpt(ByteBuf out, int extendedRcode, boolean dnssecOk) {
        out.writeByte(0).writeShort(41).writeShort(SERVER_UDP_SIZE)
                .writeByte(extendedRcode).writeByte(0).writeShort(dnssecOk ? 0x8000 : 0).writeShort(0);
    }

    /**
     * An error response for a query that could not be parsed as a whole: the header (and the
     * question when it was read), with {@code rcode}.
     */
    public static ByteBuf error(ByteBufAllocator alloc, WireQuery q, int rcode, boolean recursionAvailable) {
        Answer a = switch (rcode) {
            case WireQuery.FORMERR -> Answer.FORMERR_EMPTY;
            case WireQuery.NOTIMP -> Answer.NOTIMP_EMPTY;
            case WireQuery.BADVERS -> Answer.BADVERS_EMPTY;
            case Answer.SERVFAIL -> Answer.SERVFAIL_EMPTY;
            default -> Answer.REFUSED_EMPTY;
        };
        if (rcode == WireQuery.FORMERR || rcode == WireQuery.NOTIMP) {
            // Echo nothing but the header: the rest of the packet is not trusted.
            ByteBuf out = alloc.ioBuffer(WireQuery.HEADER);
            int flags = 0x8000 | (q.flags & 0x7900) | (recursionAvailable ? 0x0080 : 0) | rcode;
            return out.writeShort(q.id).writeShort(flags).writeZero(8);
        }
        return write(alloc, q, a, 65535, recursionAvailable);
    }
}
