package io.portolan.lb.nftables;

import java.util.HashMap;
import java.util.Map;

/**
 * What portolan believes its table holds: objects by id and, where known, the service that owns
 * each (null for objects read back from the kernel and not yet claimed). Changed only after the
 * kernel accepted a group of changes.
 */
final class KernelState {
    final Map<String, NftObject> objects = new HashMap<>();
    final Map<String, String> owners = new HashMap<>();
    /** False until the table and its maps are known to exist. */
    boolean tablePresent;

    void put(NftObject o, String owner) {
        String id = o.id();
        objects.put(id, o);
        if (owner == null) {
            owners.remove(id);
        } else {
            owners.put(id, owner);
        }
    }

    void remove(String id) {
        objects.remove(id);
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
        int n = 0;
        for (NftObject o : objects.values()) {
            if (o.kind() == NftObject.Kind.ELEMENT) {
                n++;
            }
        }
        return n;
    }
}
