package io.portolan.dns.answer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

/** A growable byte buffer with DNS encoders; only used when tables are built, never per query. */
final class Wire {
    static final byte[] POINTER_TO_QUESTION = {(byte) 0xC0, 0x0C};

    private byte[] b = new byte[128];
    private int n;

    Wire u8(int v) {
        ensure(1);
        b[n++] = (byte) v;
        return this;
    }

    Wire u16(int v) {
        ensure(2);
        b[n++] = (byte) (v >>> 8);
        b[n++] = (byte) v;
        return this;
    }

    Wire u32(long v) {
        ensure(4);
        b[n++] = (byte) (v >>> 24);
        b[n++] = (byte) (v >>> 16);
        b[n++] = (byte) (v >>> 8);
        b[n++] = (byte) v;
        return this;
    }

    Wire bytes(byte[] v) {
        ensure(v.length);
        System.arraycopy(v, 0, b, n, v.length);
        n += v.length;
        return this;
    }

    /** One resource record of class IN. */
    Wire record(byte[] owner, int type, int ttl, byte[] rdata) {
        return bytes(owner).u16(type).u16(1).u32(ttl).u16(rdata.length).bytes(rdata);
    }

    int length() {
        return n;
    }

    byte[] toArray() {
        return Arrays.copyOf(b, n);
    }

    private void ensure(int more) {
        if (n + more > b.length) {
            b = Arrays.copyOf(b, Math.max(b.length * 2, n + more));
        }
    }

    /** The lower-case wire form of an absolute name written as text ({@code "web.z."}). */
    static byte[] name(String text) {
        String t = text.toLowerCase(Locale.ROOT);
        if (t.equals(".")) {
            return new byte[] {0};
        }
        if (!t.endsWith(".")) {
            t = t + ".";
        }
        Wire w = new Wire();
        int start = 0;
        for (int i = 0; i < t.length(); i++) {
            if (t.charAt(i) == '.') {
                byte[] label = t.substring(start, i).getBytes(StandardCharsets.US_ASCII);
                if (label.length == 0 || label.length > 63) {
                    throw new IllegalArgumentException("bad name " + text);
                }
                w.u8(label.length).bytes(label);
                start = i + 1;
            }
        }
        w.u8(0);
        if (w.length() > 255) {
            throw new IllegalArgumentException("name longer than 255 bytes: " + text);
        }
        return w.toArray();
    }
}
