package io.portolan.lb;

import io.portolan.lb.ipvs.IpvsDataPlane;
import io.portolan.lb.nftables.NftablesDataPlane;
import io.portolan.lb.userspace.UserspaceDataPlane;
import io.portolan.proto.Cidr;
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
    /** {@code --dataplane auto} (the default): the first kind of {@link #AUTO_ORDER} that can run here, else none. */
    public static final String AUTO = "auto";

    private static final List<DataPlaneKind> ALL = List.of(UserspaceDataPlane.KIND, NftablesDataPlane.KIND, IpvsDataPlane.KIND);

    /**
     * What {@code auto} tries, in order: nftables (in the kernel, needs CAP_NET_ADMIN and nf_tables), then
     * userspace (needs CAP_NET_ADMIN to put VIPs on lo, unless the VIPs are in 127.0.0.0/8). IPVS is
     * never chosen by itself: it needs a kernel module and iptables, and nftables does the same job.
     */
    public static final List<DataPlaneKind> AUTO_ORDER = List.of(NftablesDataPlane.KIND, UserspaceDataPlane.KIND);

    private DataPlanes() {
    }

    public static List<DataPlaneKind> all() {
        return ALL;
    }

    /** {@code auto}, {@code none} and every kind's name. */
    public static List<String> names() {
        List<String> out = new ArrayList<>(List.of(AUTO, NONE));
        ALL.forEach(k -> out.add(k.name()));
        return out;
    }

    /** {@code name} when it is {@code auto}, {@code none} or a kind's name; anything else is refused, naming {@code flag}. */
    public static String checkName(String flag, String name) {
        if (!names().contains(name)) {
            throw new ValidationException(flag, name, "one of " + String.join(", ", names()));
        }
        return name;
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
        throw new ValidationException(flag, name, "one of " + String.join(", ", names().subList(1, names().size()))
                + (AUTO.equals(name) ? " (auto is resolved by DataPlanes.choose)" : ""));
    }

    /**
     * The plane {@code --dataplane name} comes to, and why: a named kind or none as asked; for
     * {@code auto}, the first kind of {@link #AUTO_ORDER} whose probe passes, else none, with every
     * probe's refusal in the reason.
     */
    public static Choice choose(String name, Map<String, String> flags, Cidr vipCidr) {
        return choose(name, flags, vipCidr, AUTO_ORDER);
    }

    /** {@link #choose} over {@code order} instead of {@link #AUTO_ORDER} (tests give kinds with probes of their own). */
    static Choice choose(String name, Map<String, String> flags, Cidr vipCidr, List<DataPlaneKind> order) {
        if (!AUTO.equals(name)) {
            return new Choice(named("--dataplane", name), "--dataplane " + name, false);
        }
        List<String> refused = new ArrayList<>();
        for (DataPlaneKind k : order) {
            String why = k.probe().whyNot(flags, vipCidr);
            if (why == null) {
                return new Choice(k, "--dataplane auto: " + k.name() + " can run here"
                        + (refused.isEmpty() ? "" : " (" + String.join("; ", refused) + ")"), false);
            }
            refused.add(k.name() + ": " + why);
        }
        return new Choice(null, "--dataplane auto: no data plane can run here, VIPs will not lead anywhere (DNS still answers): "
                + String.join("; ", refused), true);
    }

    /**
     * What {@link #choose} decided.
     *
     * @param kind    the kind to run, or null for none
     * @param reason  one line for the startup log: what was asked and, for auto, what each probe said
     * @param warning whether the reason deserves a warning (auto found nothing)
     */
    public record Choice(DataPlaneKind kind, String reason, boolean warning) {
        public String name() {
            return kind == null ? NONE : kind.name();
        }
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
