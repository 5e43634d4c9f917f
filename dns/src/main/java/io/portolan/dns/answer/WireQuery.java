package io.portolan.dns.answer;

/**
 * A DNS query read at the byte level, without building a message object: header fields, the
 * question's position in the packet, and the client's EDNS0 OPT record. One instance is reused by
 * each serving thread (UDP socket thread or event loop); {@link #detach()} copies what an asynchronous answer needs.
 *
 * <p>{@link #parse} returns one of the {@code PARSE_*} outcomes. A packet shorter than a header,
 * or one with QR set (a response: never answered, to avoid loops), is {@link #DROP}; anything else
 * that is not a well-formed single-question query is {@link #FORMERR} or {@link #NOTIMP}.
 */
public final class WireQuery {
    public static final int OK = 0;
    public static final int DROP = -1;
    public static final int FORMERR = 1;
    public static final int NOTIMP = 4;
    /** EDNS version above 0: answered BADVERS (extended rcode 16). */
    public static final int BADVERS = 16;

    public static final int HEADER = 12;
    private static final int MAX_NAME = 255;

    byte[] buf;
    int length;
    int id;
    int flags;
    int nameEnd;
    int qtype;
    int qclass;
    int labels;
    final int[] labelStarts = new int[128];
    boolean edns;
    int udpSize;
    boolean dnssecOk;

    public WireQuery() {
        this.buf = new byte[512];
    }

    /** A buffer of at least {@code n} bytes for the caller to fill before {@link #parse(int)}. */
    public byte[] buffer(int n) {
        if (buf.length < n) {
            buf = new byte[Math.max(n, buf.length * 2)];
        }
        return buf;
    }

    /** Parses {@code len} bytes already copied into {@link #buffer(int)}. */
    public int parse(int len) {
        this.length = len;
        this.edns = false;
        this.dnssecOk = false;
        this.udpSize = 512;
        this.nameEnd = 0;
        byte[] b = buf;
        if (len < HEADER) {
            return DROP;
        }
        id = u16(b, 0);
        flags = u16(b, 2);
        if ((flags & 0x8000) != 0) {
            return DROP;
        }
        if (((flags >>> 11) & 0xF) != 0) {
            return NOTIMP;
        }
        int qd = u16(b, 4);
        int an = u16(b, 6);
        int ns = u16(b, 8);
        int ar = u16(b, 10);
        if (qd != 1) {
            return FORMERR;
        }
        int p = HEADER;
        int n = 0;
        while (true) {
            if (p >= len) {
                return FORMERR;
            }
            int l = b[p] & 0xFF;
            if (l == 0) {
                p++;
                break;
            }
            if ((l & 0xC0) != 0 || n >= labelStarts.length) {
                return FORMERR;
            }
            labelStarts[n++] = p;
            p += 1 + l;
            if (p - HEADER >= MAX_NAME) {
                return FORMERR;
            }
        }
        labels = n;
        nameEnd = p;
        if (p + 4 > len) {
            nameEnd = 0;
            return FORMERR;
        }
        qtype = u16(b, p);
        qclass = u16(b, p + 2);
        p += 4;
        for (int i = 0; i < an + ns; i++) {
            p = skipRecord(b, p, len);
            if (p < 0) {
                return FORMERR;
            }
        }
        int version = 0;
        for (int i = 0; i < ar; i++) {
            int start = p;
            p = skipName(b, p, len);
            if (p < 0 || p + 10 > len) {
                return FORMERR;
            }
            int type = u16(b, p);
            if (type == 41) {
                if (edns || p != start + 1) {
                    return FORMERR;
                }
                edns = true;
                udpSize = Math.max(512, u16(b, p + 2));
                version = b[p + 5] & 0xFF;
                dnssecOk = (b[p + 6] & 0x80) != 0;
            }
            int rdlen = u16(b, p + 8);
            p += 10 + rdlen;
            if (p > len) {
                return FORMERR;
            }
        }
        return version != 0 ? BADVERS : OK;
    }

    /** The offset after the (possibly compressed) name at {@code p}, or -1 if it runs past {@code len} or loops. */
    public static int skipName(byte[] b, int p, int len) {
        int hops = 0;
        while (p < len) {
            int l = b[p] & 0xFF;
            if (l == 0) {
                return p + 1;
            }
            if ((l & 0xC0) == 0xC0) {
                return p + 2 <= len ? p + 2 : -1;
            }
            if ((l & 0xC0) != 0 || ++hops > 127) {
                return -1;
            }
            p += 1 + l;
        }
        return -1;
    }

    static int skipRecord(byte[] b, int p, int len) {
        p = skipName(b, p, len);
        if (p < 0 || p + 10 > len) {
            return -1;
        }
        p += 10 + u16(b, p + 8);
        return p > len ? -1 : p;
    }

    /** The big-endian 16-bit value at {@code p}. */
    public static int u16(byte[] b, int p) {
        return ((b[p] & 0xFF) << 8) | (b[p + 1] & 0xFF);
    }

    /** A copy holding only what an answer needs (header, question, EDNS), for asynchronous replies. */
    public WireQuery detach() {
        WireQuery c = new WireQuery(questionEnd());
        System.arraycopy(buf, 0, c.buf, 0, questionEnd());
        c.length = questionEnd();
        c.id = id;
        c.flags = flags;
        c.nameEnd = nameEnd;
        c.qtype = qtype;
        c.qclass = qclass;
        c.labels = labels;
        System.arraycopy(labelStarts, 0, c.labelStarts, 0, labels);
        c.edns = edns;
        c.udpSize = udpSize;
        c.dnssecOk = dnssecOk;
        return c;
    }

    private WireQuery(int size) {
        this.buf = new byte[Math.max(size, HEADER)];
    }

    public int id() {
        return id;
    }

    public int flags() {
        return flags;
    }

    public int qtype() {
        return qtype;
    }

    public int qclass() {
        return qclass;
    }

    public boolean edns() {
        return edns;
    }

    public boolean dnssecOk() {
        return dnssecOk;
    }

    /** The largest UDP answer the client accepts (512 without EDNS). */
    public int udpSize() {
        return udpSize;
    }

    /** True when the question was read (so answers can echo it). */
    public boolean hasQuestion() {
        return nameEnd > 0;
    }

    /** End of the question (name, type, class) in {@link #buffer(int)}. */
    public int questionEnd() {
        return nameEnd == 0 ? HEADER : nameEnd + 4;
    }

    /** Length of the question name in wire form, terminating zero included. */
    public int nameLength() {
        return nameEnd - HEADER;
    }

    public byte[] bytes() {
        return buf;
    }

    /** The question (name, type, class) lower-cased: a key for caches and the upstream query. */
    public byte[] lowerQuestion() {
        int n = questionEnd() - HEADER;
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
            byte c = buf[HEADER + i];
            out[i] = (i < nameLength() && c >= 'A' && c <= 'Z') ? (byte) (c + 32) : c;
        }
        return out;
    }

    /**
     * True when the question name equals {@code zone} (lower-case wire form) or lies below it,
     * compared case-insensitively at a label boundary.
     */
    public boolean isUnder(byte[] zone) {
        int nl = nameLength();
        int start = HEADER + nl - zone.length;
        if (start < HEADER) {
            return false;
        }
        boolean boundary = start == HEADER + nl - 1 && zone.length == 1;
        for (int i = 0; i < labels && !boundary; i++) {
            if (labelStarts[i] == start) {
                boundary = true;
            }
        }
        if (!boundary) {
            return false;
        }
        for (int i = 0; i < zone.length; i++) {
            byte c = buf[start + i];
            if (c >= 'A' && c <= 'Z') {
                c += 32;
            }
            if (c != zone[i]) {
                return false;
            }
        }
        return true;
    }

    /** The question name as text, for logs and tests. */
    public String nameText() {
        if (nameEnd == 0) {
            return "?";
        }
        StringBuilder s = new StringBuilder();
        int p = HEADER;
        while ((buf[p] & 0xFF) != 0) {
            int l = buf[p] & 0xFF;
            for (int i = 1; i <= l; i++) {
                char c = (char) (buf[p + i] & 0xFF);
                s.append(c > 0x20 && c < 0x7f && c != '.' ? c : '?');
            }
            s.append('.');
            p += 1 + l;
        }
        return s.length() == 0 ? "." : s.toString();
    }
}
