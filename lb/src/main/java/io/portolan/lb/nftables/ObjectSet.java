package io.portolan.lb.nftables;

import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * A set of {@link NftObject}s by identity ({@link NftObject#sameKey}): at most one object per
 * element key, chain name or set name. Open addressing with linear probing over one array, so an
 * object costs one reference (about 10 bytes at the load kept here) where a {@code HashMap} costs a
 * 32-byte node and a slot: the kernel table holds every object of the table, 110,000 at 10,000
 * services × 10 instances. Not thread-safe; not to be changed while iterated.
 */
final class ObjectSet implements Iterable<NftObject> {
    private NftObject[] table = new NftObject[16];
    private int shift = 32 - 4;
    private int size;

    int size() {
        return size;
    }

    /** The object with {@code key}'s identity, or null. */
    NftObject get(NftObject key) {
        int mask = table.length - 1;
        for (int i = slot(key); ; i = (i + 1) & mask) {
            NftObject o = table[i];
            if (o == null || o.sameKey(key)) {
                return o;
            }
        }
    }

    boolean contains(NftObject key) {
        return get(key) != null;
    }

    /** Holds {@code o} in place of the object with its identity; returns that one, or null. */
    NftObject put(NftObject o) {
        return put(o, true);
    }

    /** Holds {@code o} unless an object with its identity is there; returns that one, or null when {@code o} went in. */
    NftObject putIfAbsent(NftObject o) {
        return put(o, false);
    }

    private NftObject put(NftObject o, boolean replace) {
        int mask = table.length - 1;
        int i = slot(o);
        for (; table[i] != null; i = (i + 1) & mask) {
            NftObject there = table[i];
            if (there.sameKey(o)) {
                if (replace) {
                    table[i] = o;
                }
                return there;
            }
        }
        table[i] = o;
        if (++size * 3 > table.length * 2) {
            grow();
        }
        return null;
    }

    /** Removes the object with {@code key}'s identity; returns it, or null. */
    NftObject remove(NftObject key) {
        int mask = table.length - 1;
        int i = slot(key);
        for (; ; i = (i + 1) & mask) {
            NftObject o = table[i];
            if (o == null) {
                return null;
            }
            if (o.sameKey(key)) {
                break;
            }
        }
        NftObject gone = table[i];
        // backward shift: move up every later object of the run that may no longer be found past the hole
        for (int j = i; ; ) {
            j = (j + 1) & mask;
            NftObject o = table[j];
            if (o == null) {
                break;
            }
            int home = slot(o);
            boolean stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays) {
                table[i] = o;
                i = j;
            }
        }
        table[i] = null;
        size--;
        return gone;
    }

    private int slot(NftObject o) {
        return (o.keyHash() * 0x9E3779B9) >>> shift; // Fibonacci hashing: the high bits of the product
    }

    private void grow() {
        NftObject[] old = table;
        table = new NftObject[old.length * 2];
        shift--;
        int mask = table.length - 1;
        for (NftObject o : old) {
            if (o != null) {
                int i = slot(o);
                while (table[i] != null) {
                    i = (i + 1) & mask;
                }
                table[i] = o;
            }
        }
    }

    @Override
    public Iterator<NftObject> iterator() {
        return new Iterator<>() {
            private int next = advance(0);

            private int advance(int from) {
                while (from < table.length && table[from] == null) {
                    from++;
                }
                return from;
            }

            @Override
            public boolean hasNext() {
                return next < table.length;
            }

            @Override
            public NftObject next() {
                if (next >= table.length) {
                    throw new NoSuchElementException();
                }
                NftObject o = table[next];
                next = advance(next + 1);
                return o;
            }
        };
    }
}
