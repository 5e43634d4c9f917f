package io.portolan.lb.nftables;

import java.util.HashMap;
import java.util.Map;

/**
 * What portolan believes its table holds: objects by id and, where known, the service that owns
 * each (null for objects read back from the kernel and not yet claimed). Changed only after the
 * kernel accepted a group of changes.
 */
final class KernelTable {
    final Map<String, NftObject> objects = new HashMap<>();
    private int elements;
    final Map<String, String> owners = new HashMap<>();
    /** False until the table and its maps are known to exist. */
    boolean tablePresent;

    void put(NftObject o, String owner) {
        String id = o.id();
        NftObject before = objects.put(id, o);
        if (before == null && o.kind() == NftObject.Kind.ELEMENT) {
            elements++;
        }
        if (owner == null) {
            owners.remove(id);
        } else {
            owners.put(id, owner);
        }
    }

    void remove(String id) {
        NftObject gone = objects.remove(id);
        if (gone != null && gone.kind() == NftObject.Kind.ELEMENT) {
            elements--;
        }
        owners.remove(id);
    }

    /** Records the changes of a group the kernel accepted. */
    void accept(Plan.Group g) {
        for (Plan.Op op : g.ops()) {
            switch (op.type()) {
                case DELETE -> remove(op.object().id());
                case CONFLICT -> {
                    if (!objects.containsKey(op.object().id())) {
                        put(op.object(), g.owner());
                    }
                }
                default -> put(op.object(), g.owner().equals(Plan.STALE) ? null : g.owner());
            }
        }
    }

    int elementCount() {
        return elements;
    }
}
