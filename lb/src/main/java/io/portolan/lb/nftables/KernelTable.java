package io.portolan.lb.nftables;

import java.util.ArrayList;
import java.util.List;

/**
 * What portolan believes its table holds: one object per identity, each owned by the service it was
 * rendered for ({@link NftObject#owner()}; null for objects read back from the kernel and not yet
 * claimed). Changed only after the kernel accepted a group of changes.
 *
 * <p>After a sync the objects are the desired fragments' own (an accepted change puts the rendered
 * object), so the table adds one reference per object ({@link ObjectSet}) to what the fragments hold.
 */
final class KernelTable {
    private final ObjectSet objects = new ObjectSet();
    private int elements;
    /** False until the table and its maps are known to exist. */
    boolean tablePresent;
    /** The table was there when read back (with or without all its maps). */
    boolean tableExists;
    /**
     * The table read back was written by an earlier layout of the plane (its slot chains DNAT one protocol
     * only: see {@link Nft#parse}); a full plan replaces it whole instead of adopting it.
     */
    boolean earlierLayout;

    /** Holds {@code o} (owned by {@code o.owner()}) in place of the object with its identity. */
    void put(NftObject o) {
        NftObject before = objects.put(o);
        if (before == null && o.kind() == NftObject.Kind.ELEMENT) {
            elements++;
        }
    }

    void remove(NftObject key) {
        NftObject gone = objects.remove(key);
        if (gone != null && gone.kind() == NftObject.Kind.ELEMENT) {
            elements--;
        }
    }

    /** The object the kernel holds with {@code key}'s identity, or null. */
    NftObject get(NftObject key) {
        return objects.get(key);
    }

    /** Every object (in no particular order). */
    Iterable<NftObject> objects() {
        return objects;
    }

    int size() {
        return objects.size();
    }

    /** Whether any object is owned by {@code owner} (a walk over the table). */
    boolean owns(String owner) {
        for (NftObject o : objects) {
            if (owner.equals(o.owner())) {
                return true;
            }
        }
        return false;
    }

    /** The objects owned by {@code owner} (a walk over the table). */
    List<NftObject> ownedBy(String owner) {
        List<NftObject> out = new ArrayList<>();
        for (NftObject o : objects) {
            if (owner.equals(o.owner())) {
                out.add(o);
            }
        }
        return out;
    }

    /** The object with this {@link NftObject#id()}, or null (a walk over the table: for tests and diagnostics). */
    NftObject find(String id) {
        for (NftObject o : objects) {
            if (o.id().equals(id)) {
                return o;
            }
        }
        return null;
    }

    /** Records the changes of a group the kernel accepted. */
    void accept(Plan.Group g) {
        for (Plan.Op op : g.ops()) {
            switch (op.type()) {
                case DELETE -> remove(op.object());
                case CONFLICT -> {
                    if (get(op.object()) == null) {
                        put(op.object());
                    }
                }
                default -> put(op.object());
            }
        }
    }

    int elementCount() {
        return elements;
    }
}
