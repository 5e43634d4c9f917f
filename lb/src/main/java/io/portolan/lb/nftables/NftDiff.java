package io.portolan.lb.nftables;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * The difference between what the kernel holds ({@link KernelTable}) and a desired {@link Ruleset},
 * as a {@link Plan}. Pure. A full plan compares every object (after a restart the state was read
 * back from the kernel, owners unknown); an incremental plan looks only at the services whose
 * fragment changed since {@code previous} (named by the caller, or found by comparing every fragment)
 * and those named in {@code retry}.
 */
final class NftDiff {
    private NftDiff() {
    }

    static Plan full(NftConfig c, KernelTable actual, Ruleset desired) {
        return plan(c, actual, null, desired, null, Set.of());
    }

    /** Incremental, finding the changed services by comparing every fragment of {@code previous} and {@code desired}. */
    static Plan incremental(NftConfig c, KernelTable actual, Ruleset previous, Ruleset desired, Set<String> retry) {
        return incremental(c, actual, previous, desired, null, retry);
    }

    /**
     * Incremental, looking only at {@code changed} (services whose fragment in {@code desired} may not
     * be {@code previous}'s, e.g. {@link FragmentCache#changed}) and {@code retry}; null {@code changed}:
     * compare every fragment. Costs what the changed services own, not what the table holds.
     */
    static Plan incremental(NftConfig c, KernelTable actual, Ruleset previous, Ruleset desired, Set<String> changed,
                            Set<String> retry) {
        return plan(c, actual, Objects.requireNonNull(previous), desired, changed, retry);
    }

    private static boolean differs(Ruleset previous, Ruleset desired, String name) {
        Fragment before = previous.services().get(name);
        Fragment after = desired.services().get(name);
        return before != after && (before == null || !before.equals(after));
    }

    private static Plan plan(NftConfig c, KernelTable actual, Ruleset previous, Ruleset desired, Set<String> changed,
                             Set<String> retry) {
        boolean full = previous == null;
        // a table of an earlier layout is not adopted, nor one whose slot chains must be written (new, or other than
        // these): nft 1.0.6 cannot read a rule using a backend map it loaded from the kernel (the map's typeof data,
        // "ip daddr . th dport", fails with "conflicting protocols specified: ip vs. th"), but it can in the
        // transaction that declares the map. Deleted and written anew in one transaction.
        boolean replace = full && (actual.earlierLayout || (actual.tableExists && slotChainsToWrite(actual, desired.common())));
        if (replace) {
            actual = new KernelTable();
        }
        Set<String> owners = new TreeSet<>();
        if (full) {
            owners.addAll(desired.services().keySet());
            for (NftObject o : actual.objects()) {
                if (o.owner() != null && !o.owner().isEmpty()) {
                    owners.add(o.owner());
                }
            }
        } else if (changed != null) {
            for (String name : changed) {
                if (differs(previous, desired, name)) {
                    owners.add(name);
                }
            }
        } else if (previous != desired) {
            for (String name : desired.services().keySet()) {
                if (differs(previous, desired, name)) {
                    owners.add(name);
                }
            }
            for (String gone : previous.services().keySet()) {
                if (!desired.services().containsKey(gone)) {
                    owners.add(gone);
                }
            }
        }
        if (!full) {
            for (String r : retry) {
                if (desired.services().containsKey(r) || actual.owns(r)) {
                    owners.add(r);
                }
            }
        }
        // every object wanted, as the first wanting service's (its owner), over every service a full plan
        // looks at, or the changed ones; the fixed part's own objects win
        ObjectSet wanted = new ObjectSet();
        for (String o : owners) {
            Fragment f = desired.services().get(o);
            if (f != null) {
                for (NftObject x : f.objects()) {
                    wanted.putIfAbsent(x);
                }
            }
        }
        for (NftObject x : desired.common().objects()) {
            wanted.put(x);
        }
        Map<String, List<NftObject>> byOwner = null;
        if (full) {
            byOwner = new HashMap<>();
            for (NftObject a : actual.objects()) {
                String o = a.owner();
                byOwner.computeIfAbsent(o == null ? Plan.STALE : o, k -> new ArrayList<>()).add(a);
            }
        }

        List<Plan.Op> preOps = new ArrayList<>();
        List<Plan.Op> postOps = new ArrayList<>();
        if (full || !actual.tablePresent) {
            for (NftObject o : desired.common().objects()) {
                preOps.add(upsert(actual, o, Fragment.COMMON, desired, wanted));
            }
            if (byOwner != null) {
                for (String owner : List.of(Fragment.COMMON, Plan.STALE)) {
                    for (NftObject a : byOwner.getOrDefault(owner, List.of())) {
                        if (!wanted.contains(a) && a.kind() == NftObject.Kind.CHAIN && isCommonName(a.key())) {
                            postOps.add(new Plan.Op(Plan.OpType.DELETE, a));
                        }
                    }
                }
            }
        }

        List<Plan.Group> groups = new ArrayList<>();
        for (String owner : owners) {
            Fragment f = desired.services().get(owner);
            List<Plan.Op> ops = new ArrayList<>();
            if (f != null) {
                for (NftObject o : f.objects()) {
                    ops.add(upsert(actual, o, owner, desired, wanted));
                }
            }
            // what the owner held and no service now wants (f's own objects are all in wanted)
            List<NftObject> candidates;
            ObjectSet done = null;
            if (full) {
                candidates = byOwner.getOrDefault(owner, List.of());
            } else {
                Fragment before = previous.services().get(owner);
                candidates = new ArrayList<>();
                if (before != null) {
                    candidates.addAll(before.objects());
                }
                if (retry.contains(owner)) {
                    candidates.addAll(actual.ownedBy(owner));
                    done = new ObjectSet(); // the two may name one object
                }
            }
            for (NftObject x : candidates) {
                if (wanted.contains(x) || (done != null && done.putIfAbsent(x) != null)) {
                    continue;
                }
                NftObject a = actual.get(x);
                if (a != null && owner.equals(a.owner())) {
                    ops.add(new Plan.Op(Plan.OpType.DELETE, a));
                }
            }
            if (!ops.isEmpty()) {
                groups.add(new Plan.Group(owner, List.copyOf(ops)));
            }
        }
        if (full) {
            List<Plan.Op> stale = new ArrayList<>();
            for (var e : byOwner.entrySet()) {
                if (e.getKey().equals(Fragment.COMMON) || (!e.getKey().equals(Plan.STALE) && owners.contains(e.getKey()))) {
                    continue;
                }
                for (NftObject a : e.getValue()) {
                    if (!wanted.contains(a) && !(a.kind() == NftObject.Kind.CHAIN && isCommonName(a.key()))) {
                        stale.add(new Plan.Op(Plan.OpType.DELETE, a));
                    }
                }
            }
            if (!stale.isEmpty()) {
                NftObject.sortById(stale, Plan.Op::object);
                groups.add(new Plan.Group(Plan.STALE, List.copyOf(stale)));
            }
        }
        List<String> decl = full || !actual.tablePresent ? NftRender.declarations(c) : List.of();
        return new Plan(c.table(), full, replace, decl, new Plan.Group(Fragment.COMMON, preOps), List.copyOf(groups),
                new Plan.Group(Fragment.COMMON, postOps));
    }

    /** Whether a slot chain of {@code common} is missing from {@code actual} or holds other rules. */
    static boolean slotChainsToWrite(KernelTable actual, Fragment common) {
        for (NftObject o : common.objects()) {
            if (o.kind() == NftObject.Kind.CHAIN && Nft.isSlotChain(o.key())) {
                NftObject a = actual.get(o);
                if (a == null || !a.sameContent(o)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Names the fixed part uses (base and slot chains); anything else in the table belongs to a service. */
    static boolean isCommonName(String chain) {
        return chain.equals("prerouting") || chain.equals("output") || chain.equals("postrouting")
                || chain.startsWith("slots_") || chain.startsWith("pslots_");
    }

    private static Plan.Op upsert(KernelTable actual, NftObject o, String owner, Ruleset desired, ObjectSet wanted) {
        NftObject a = actual.get(o);
        if (a == null) {
            return new Plan.Op(Plan.OpType.ADD, o);
        }
        NftObject first = wanted.get(o);
        if (first != null && !first.owner().equals(owner)) {
            return new Plan.Op(Plan.OpType.CONFLICT, o); // another service wants the same key: the kernel decides
        }
        String holder = a.owner();
        if (holder != null && !holder.equals(owner) && !holder.isEmpty()) {
            Fragment other = desired.services().get(holder);
            if (other != null && other.contains(o)) {
                return new Plan.Op(Plan.OpType.CONFLICT, o);
            }
        }
        if (o.kind() == NftObject.Kind.SET) {
            return new Plan.Op(Plan.OpType.CLAIM, o); // keep the set and the clients it remembers
        }
        return a.sameContent(o) ? new Plan.Op(Plan.OpType.CLAIM, o) : new Plan.Op(Plan.OpType.REPLACE, o);
    }
}
