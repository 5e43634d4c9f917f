package io.portolan.dns.answer;

import java.util.Arrays;

/**
 * An open-addressing map from lower-case wire-form names to values, looked up directly in a
 * packet buffer with ASCII case folding: no key object and no copy per query.
 */
final class NameMap<V> {
    private final byte[][] keys;
    private final Object[] values;
    private final int mask;
    private int size;

    NameMap(int expected) {
        int cap = Integer.highestOneBit(Math.max(16, expected * 2 + 1) - 1) << 1;
        keys = new byte[cap][];
        values = new Object[cap];
        mask = cap - 1;
    }

    static int hash(byte[] b, int off, int len) {
        int h = 0;
        for (int i = off, end = off + len; i < end; i++) {
            int c = b[i];
            if (c >= 'A' && c <= 'Z') {
                c += 32;
            }
            h = 31 * h + (c & 0xFF);
        }
        // murmur3's finaliser: every input bit reaches the low bits the table index uses
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        h ^= h >>> 13;
        h *= 0xC2B2AE35;
        return h ^ (h >>> 16);
    }

    void put(byte[] key, V value) {
        if (size * 2 >= keys.length) {
            throw new IllegalStateException("NameMap sized for fewer names");
        }
        int i = hash(key, 0, key.length) & mask;
        while (keys[i] != null) {
            if (Arrays.equals(keys[i], key)) {
                values[i] = value;
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = key;
        values[i] = value;
        size++;
    }

    @SuppressWarnings("unchecked")
    V get(byte[] b, int off, int len) {
        int i = hash(b, off, len) & mask;
        byte[] k;
        while ((k = keys[i]) != null) {
            if (k.length == len && equalsFolded(k, b, off)) {
                return (V) values[i];
            }
            i = (i + 1) & mask;
        }
        return null;
    }

    private static boolean equalsFolded(byte[] k, byte[] b, int off) {
        for (int i = 0; i < k.length; i++) {
            int c = b[off + i];
            if (c >= 'A' && c <= 'Z') {
                c += 32;
            }
            if ((byte) c != k[i]) {
                return false;
            }
        }
        return true;
    }

    int size() {
        return size;
    }
}
