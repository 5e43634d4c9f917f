package io.portolan.lb.nftables;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;

/**
 * What one service renders to (or, with owner {@code ""}, the table's fixed part): its objects,
 * sorted by {@link NftObject#id()} and at most one per identity, the VIP to put on the VIP device (or
 * null), and what was left out and why. The objects are an immutable list over one array (a service
 * has about a dozen); {@link #contains} walks it.
 */
record Fragment(String owner, List<NftObject> objects, InetAddress vip, List<String> warnings) {
    static final String COMMON = "";

    /** A fragment of {@code objects} in any order; of two with one identity the later one is kept. */
    static Fragment of(String owner, List<NftObject> objects, InetAddress vip, List<String> warnings) {
        List<NftObject> sorted = new ArrayList<>(objects);
        NftObject.sortById(sorted, o -> o);
        List<NftObject> unique = new ArrayList<>(sorted.size());
        for (NftObject o : sorted) {
            if (!unique.isEmpty() && unique.get(unique.size() - 1).sameKey(o)) {
                unique.set(unique.size() - 1, o);
            } else {
                unique.add(o);
            }
        }
        return new Fragment(owner, List.copyOf(unique), vip, List.copyOf(warnings));
    }

    /** Whether this fragment has an object with {@code key}'s identity. */
    boolean contains(NftObject key) {
        for (NftObject o : objects) {
            if (o.sameKey(key)) {
                return true;
            }
        }
        return false;
    }
}
