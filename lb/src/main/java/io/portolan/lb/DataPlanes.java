package io.portolan.lb;

import io.portolan.lb.ipvs.IpvsDataPlane;
import io.portolan.lb.nftables.NftablesDataPlane;
import io.portolan.lb.userspace.UserspaceDataPlane;
import io.portolan.proto.ValidationException;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The data planes there are, for the agent to loop over: it names none of them itself. */
public final class DataPlanes {
    /** {@code --dataplane none}: DNS only. */
    public static final String NONE = "none";

    private static final List<DataPlaneKind> ALL = List.of(UserspaceDataPlane.KIND, NftablesDataPlane.KIND, IpvsDataPlane.KIND);

    private DataPlanes() {
    }

    public static List<DataPlaneKind> all() {
        return ALL;
    }

    /** {@code none} and every kind's name. */
    public static List<String> names() {
        List<String> out = new ArrayList<>(List.of(NONE));
        ALL.forEach(k -> out.add(k.name()));
        return out;
    }

    /** The kind called {@code name}, or null for {@code none}; an unknown name is refused, naming {@code flag}. */
    public static DataPlaneKind named(String flag, String name) {
        if (NONE.equals(name)) {
            return null;
        }
        for (DataPlaneKind k : ALL) {
            if (k.name().equals(name)) {
                return k;
            }
        }
        throw new ValidationException(flag, name, "one of " + String.join(", ", names()));
    }

    /** Every flag of every kind. */
    public static Set<String> flags() {
        Set<String> out = new HashSet<>();
        ALL.forEach(k -> out.addAll(k.flags()));
        return Set.copyOf(out);
    }

    /** Checks every kind's flags in {@code flags}, so a bad value is refused whichever plane runs. */
    public static void check(Map<String, String> flags) {
        ALL.forEach(k -> k.check().accept(flags));
    }
}
