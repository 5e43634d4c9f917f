package io.portolan.dns.answer;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * An open-addressing map from lower-case wire-form names to values, looked up directly in a
 * packet buffer with ASCII case folding: no key object and no copy per query.
 *
 * <p>Linear probing, at most half full, in segments of at most {@code 2^SEGMENT_BITS} slots: a
 * name's hash picks the segment with the bits above the slot bits, and probing wraps around
 * within the segment. Segments make updates cheap while a published map stays untouched:
 * {@link #copy} shares every segment with the original, and the copy clones a segment the first time
 * it writes to it, so changing a few names costs a few segments, not the whole table. Removal is
 * backward-shift deletion (no tombstones: look-ups stay as short as in a freshly built map).
 *
 * <p>A map that queries may read is never changed: change a {@link #copy}, and once a map has been
 * copied, change only the copy.
 */
final class NameMap<V> {
    /** Slots per segment at most: 512 (2 KiB of references per array with compressed oops). */
    static final int SEGMENT_BITS = 9;

    private byte[][][] keys;
    private Object[][] values;
    private int[] sizes;
    /** The segments this map may write to; the others are shared with the map it was copied from. */
    private boolean[] owned;
    private int slotBits;
    private int slotMask;
    private int segmentMask;
    private int size;

    NameMap(int expected) {
        int capacityBits = Integer.numberOfTrailingZeros(Integer.highestOneBit(Math.max(16, expected * 2 + 1) - 1) << 1);
        allocate(capacityBits);
    }

    private NameMap(NameMap<V> from) {
        keys = from.keys.clone();
        values = from.values.clone();
        sizes = from.sizes.clone();
        owned = new boolean[keys.length];
        slotBits = from.slotBits;
        slotMask = from.slotMask;
        segmentMask = from.segmentMask;
        size = from.size;
    }

    private void allocate(int capacityBits) {
        slotBits = Math.min(capacityBits, SEGMENT_BITS);
        int segments = 1 << (capacityBits - slotBits);
        keys = new byte[segments][1 << slotBits][];
        values = new Object[segments][1 << slotBits];
        sizes = new int[segments];
        owned = new boolean[segments];
        Arrays.fill(owned, true);
        slotMask = (1 << slotBits) - 1;
        segmentMask = segments - 1;
        size = 0;
    }

    /**
     * A map with the same names, sharing this one's segments until it writes to them. This map
     * must not change afterwards.
     */
    NameMap<V> copy() {
        return new NameMap<>(this);
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

    private int segment(int hash) {
        return (hash >>> slotBits) & segmentMask;
    }

    /** Makes segment {@code s} this map's own before it writes to it. */
    private void own(int s) {
        if (!owned[s]) {
            keys[s] = keys[s].clone();
            values[s] = values[s].clone();
            owned[s] = true;
        }
    }

    void put(byte[] key, V value) {
        int h = hash(key, 0, key.length);
        int s = segment(h);
        byte[][] k = keys[s];
        int i = h & slotMask;
        while (k[i] != null) {
            if (Arrays.equals(k[i], key)) {
                own(s);
                values[s][i] = value;
                return;
            }
            i = (i + 1) & slotMask;
        }
        // At most half full overall, three quarters in any segment (never reached with a fair hash).
        if ((size + 1) * 2L > (long) keys.length << slotBits || (sizes[s] + 1) * 4 > (slotMask + 1) * 3) {
            grow();
            put(key, value);
            return;
        }
        own(s);
        keys[s][i] = key;
        values[s][i] = value;
        sizes[s]++;
        size++;
    }

    /** Twice the capacity, every name put again (only ever on a map not yet published). */
    @SuppressWarnings("unchecked")
    private void grow() {
        byte[][][] oldKeys = keys;
        Object[][] oldValues = values;
        allocate(Integer.numberOfTrailingZeros(oldKeys.length) + slotBits + 1);
        for (int s = 0; s < oldKeys.length; s++) {
            for (int i = 0; i < oldKeys[s].length; i++) {
                if (oldKeys[s][i] != null) {
                    put(oldKeys[s][i], (V) oldValues[s][i]);
                }
            }
        }
    }

    /**
     * Removes {@code key}; returns whether it was there. The names after it in its probe run move
     * back into the gap unless that would put them before their home slot.
     */
    boolean remove(byte[] key) {
        int h = hash(key, 0, key.length);
        int s = segment(h);
        byte[][] k = keys[s];
        int i = h & slotMask;
        while (k[i] != null && !Arrays.equals(k[i], key)) {
            i = (i + 1) & slotMask;
        }
        if (k[i] == null) {
            return false;
        }
        own(s);
        k = keys[s];
        Object[] v = values[s];
        int gap = i;
        for (int j = (gap + 1) & slotMask; k[j] != null; j = (j + 1) & slotMask) {
            int home = hash(k[j], 0, k[j].length) & slotMask;
            // The name at j may fill the gap only if its home is not cyclically within (gap, j].
            boolean stays = gap <= j ? gap < home && home <= j : gap < home || home <= j;
            if (!stays) {
                k[gap] = k[j];
                v[gap] = v[j];
                gap = j;
            }
        }
        k[gap] = null;
        v[gap] = null;
        sizes[s]--;
        size--;
        return true;
    }

    @SuppressWarnings("unchecked")
    V get(byte[] b, int off, int len) {
        int h = hash(b, off, len);
        int s = segment(h);
        byte[][] ks = keys[s];
        int i = h & slotMask;
        byte[] k;
        while ((k = ks[i]) != null) {
            if (k.length == len && equalsFolded(k, b, off)) {
                return (V) values[s][i];
            }
            i = (i + 1) & slotMask;
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

    /** Calls {@code action} with every key (tests compare two maps' names with it). */
    void forEachKey(Consumer<byte[]> action) {
        for (byte[][] segment : keys) {
            for (byte[] k : segment) {
                if (k != null) {
                    action.accept(k);
                }
            }
        }
    }
}
