package io.portolan.dns.forward;

import static io.portolan.dns.answer.WireQuery.skipName;
import static io.portolan.dns.answer.WireQuery.u16;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.xbill.DNS.Message;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;

/** Checks an upstream response against the question asked and turns it into a {@link CachedResponse}. */
final class UpstreamParser {
    /** Longest time any forwarded answer is cached, whatever its TTL. */
    static final int MAX_CACHE_TTL = 3600;

    private UpstreamParser() {
    }

    /** True when {@code msg} is a response with our ID whose single question equals {@code question}. */
    static boolean matches(byte[] msg, int len, int id, byte[] question) {
        if (len < 12 + question.length || (msg[2] & 0x80) == 0 || u16(msg, 0) != id || u16(msg, 4) != 1) {
            return false;
        }
        for (int i = 0; i < question.length; i++) {
            byte c = msg[12 + i];
            if (c >= 'A' && c <= 'Z') {
                c += 32;
            }
            if (c != question[i]) {
                return false;
            }
        }
        return true;
    }

    static boolean truncated(byte[] msg) {
        return (msg[2] & 0x02) != 0;
    }

    static int rcode(byte[] msg) {
        return msg[3] & 0xF;
    }

    /**
     * The cacheable form of a response: ID zeroed, question lower-cased, OPT removed, TTL offsets
     * found. The cache lifetime is the smallest TTL (positive answers) or the SOA's negative TTL;
     * zero when it may not be cached.
     */
    static CachedResponse parse(byte[] msg, int len, byte[] question, long now) {
        byte[] w = java.util.Arrays.copyOf(msg, len);
        Walk walk = walk(w, question.length);
        if (walk == null) {
            throw new IllegalArgumentException("malformed upstream response");
        }
        if (walk.optStart >= 0) {
            if (walk.optEnd == w.length) {
                w = java.util.Arrays.copyOf(w, walk.optStart);
                int ar = u16(w, 10) - 1;
                w[10] = (byte) (ar >>> 8);
                w[11] = (byte) ar;
            } else {
                w = withoutOpt(w);
            }
            walk = walk(w, question.length);
            if (walk == null || walk.optStart >= 0) {
                throw new IllegalArgumentException("malformed upstream response");
            }
        }
        w[0] = 0;
        w[1] = 0;
        System.arraycopy(question, 0, w, 12, question.length);
        int rcode = w[3] & 0xF;
        int an = u16(w, 6);
        long ttl;
        if (rcode == 0 && an > 0) {
            ttl = walk.minTtl;
        } else if ((rcode == 0 || rcode == 3) && walk.soaNegative >= 0) {
            ttl = walk.soaNegative;
        } else {
            ttl = 0;
        }
        ttl = Math.min(ttl, MAX_CACHE_TTL);
        int[] offsets = walk.ttlOffsets.stream().mapToInt(Integer::intValue).toArray();
        int[] ttls = new int[offsets.length];
        for (int i = 0; i < offsets.length; i++) {
            ttls[i] = (int) Math.min(Math.max(0, u32(w, offsets[i])), Integer.MAX_VALUE);
        }
        return new CachedResponse(w, offsets, ttls, now, now + ttl * 1_000_000_000L);
    }

    private static byte[] withoutOpt(byte[] w) {
        try {
            Message m = new Message(w);
            Message out = new Message(m.getHeader().getID());
            out.setHeader(m.getHeader());
            for (int s : new int[] {Section.QUESTION, Section.ANSWER, Section.AUTHORITY, Section.ADDITIONAL}) {
                for (Record r : m.getSection(s)) {
                    if (r.getType() != org.xbill.DNS.Type.OPT) {
                        out.addRecord(r, s);
                    }
                }
            }
            return out.toWire();
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed upstream response", e);
        }
    }

    static final class Walk {
        final List<Integer> ttlOffsets = new ArrayList<>();
        long minTtl = Long.MAX_VALUE;
        long soaNegative = -1;
        int optStart = -1;
        int optEnd = -1;
    }

    static Walk walk(byte[] w, int questionLength) {
        int len = w.length;
        if (len < 12) {
            return null;
        }
        int an = u16(w, 6);
        int ns = u16(w, 8);
        int ar = u16(w, 10);
        int p = 12 + questionLength;
        Walk walk = new Walk();
        for (int i = 0; i < an + ns + ar; i++) {
            int start = p;
            p = skipName(w, p, len);
            if (p < 0 || p + 10 > len) {
                return null;
            }
            int type = u16(w, p);
            long ttl = u32(w, p + 4);
            int rdlen = u16(w, p + 8);
            int rdata = p + 10;
            int end = rdata + rdlen;
            if (end > len) {
                return null;
            }
            if (type == 41) {
                if (walk.optStart >= 0) {
                    return null;
                }
                walk.optStart = start;
                walk.optEnd = end;
            } else {
                walk.ttlOffsets.add(p + 4);
                if (i < an + ns) {
                    walk.minTtl = Math.min(walk.minTtl, ttl);
                }
                if (type == 6 && i >= an && i < an + ns) {
                    int q = skipName(w, rdata, len);
                    q = q < 0 ? -1 : skipName(w, q, len);
                    if (q < 0 || q + 20 > end) {
                        return null;
                    }
                    walk.soaNegative = Math.min(ttl, u32(w, q + 16));
                }
            }
            p = end;
        }
        return walk;
    }

    static long u32(byte[] b, int p) {
        return ((long) u16(b, p) << 16) | u16(b, p + 2);
    }
}
