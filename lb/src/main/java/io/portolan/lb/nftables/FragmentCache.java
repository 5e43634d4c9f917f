package io.portolan.lb.nftables;

import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.Service;

import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The last render's fragments per service, so that a sync renders only what changed. Pure (no I/O,
 * no logging): {@link #render} returns a {@link Ruleset} equal to {@link NftRender#render}'s, whose
 * unchanged services' fragments are the previous result's objects.
 *
 * <p>Snapshots built with {@link ClusterSnapshot#next} share unchanged {@link Service} objects and
 * serving-instance lists with their predecessor, so after a render that followed another one
 * ({@link #render} without {@link #reset} in between) a service is re-rendered only when one of
 * those is another object (and not equal), and {@link #changed} names the services whose fragment
 * was replaced, added or removed: all a diff has to look at. After {@link #reset} (a full sync, a
 * failure) the whole ruleset is rebuilt (fragments of equal services still reused) and
 * {@link #changed} is null: all.
 */
final class FragmentCache {
    private record Cached(Service service, List<Instance> serving, Fragment fragment) {
    }

    private final NftConfig config;
    private final Fragment common;
    private final Map<String, Cached> byService = new HashMap<>();
    private ClusterSnapshot last;
    private Ruleset ruleset;
    private Set<String> changed;
    private final List<Fragment> fresh = new java.util.ArrayList<>();

    FragmentCache(NftConfig config) {
        this.config = config;
        this.common = NftRender.common(config);
    }

    /** The next {@link #render} walks every service. */
    void reset() {
        last = null;
        ruleset = null;
    }

    /** The last result (null before the first render or after {@link #reset}). */
    Ruleset last() {
        return ruleset;
    }

    /**
     * Names of the services whose fragment the last {@link #render} replaced, added or removed, against
     * the render before it (sorted); null when it walked every service.
     */
    Set<String> changed() {
        return changed;
    }

    /** The fragments the last render made anew (not reused): whose warnings are news. */
    List<Fragment> fresh() {
        return List.copyOf(fresh);
    }

    Ruleset render(ClusterSnapshot snapshot) {
        fresh.clear();
        Ruleset result = last == null || ruleset == null ? walkAll(snapshot) : patch(snapshot);
        last = snapshot;
        ruleset = result;
        return result;
    }

    private Ruleset walkAll(ClusterSnapshot snapshot) {
        SortedMap<String, Fragment> out = new TreeMap<>();
        for (Service s : snapshot.services().values()) {
            out.put(s.name(), fragment(s, snapshot.servingInstances(s.name())));
        }
        byService.keySet().retainAll(out.keySet());
        changed = null;
        return new Ruleset(common, Collections.unmodifiableSortedMap(out));
    }

    /**
     * The services whose {@link Service} or serving-instance list is not the object the last render saw,
     * re-rendered; the others keep their fragments. When the snapshot was built from the last one by
     * {@link ClusterSnapshot#next} (the registry's case) only the names it reports changed are looked
     * at ({@link ClusterSnapshot#changedSince}); otherwise every service is compared by identity.
     */
    private Ruleset patch(ClusterSnapshot snapshot) {
        Map<String, Fragment> updates = new HashMap<>();
        Set<String> names = snapshot.changedSince(last);
        if (names != null) {
            for (String name : names) {
                Service s = snapshot.services().get(name);
                if (s != null) {
                    consider(s, snapshot.servingInstances(name), updates);
                } else if (byService.remove(name) != null) {
                    updates.put(name, null);
                }
            }
        } else {
            int seen = 0;
            for (Service s : snapshot.services().values()) {
                seen += byService.containsKey(s.name()) ? 1 : 0;
                consider(s, snapshot.servingInstances(s.name()), updates);
            }
            if (seen < byService.size()) { // services gone
                for (var it = byService.keySet().iterator(); it.hasNext(); ) {
                    String name = it.next();
                    if (!snapshot.services().containsKey(name)) {
                        it.remove();
                        updates.put(name, null);
                    }
                }
            }
        }
        if (updates.isEmpty()) {
            changed = Set.of();
            return ruleset;
        }
        SortedMap<String, Fragment> out = new TreeMap<>(ruleset.services());
        for (var e : updates.entrySet()) {
            if (e.getValue() == null) {
                out.remove(e.getKey());
            } else {
                out.put(e.getKey(), e.getValue());
            }
        }
        changed = Collections.unmodifiableSet(new TreeSet<>(updates.keySet()));
        return new Ruleset(common, Collections.unmodifiableSortedMap(out));
    }

    /** Records in {@code updates} a service whose fragment is not the cached one. */
    private void consider(Service s, List<Instance> serving, Map<String, Fragment> updates) {
        Cached c = byService.get(s.name());
        if (c != null && c.service == s && c.serving == serving) {
            return;
        }
        Fragment before = c == null ? null : c.fragment;
        Fragment after = fragment(s, serving);
        if (after != before) {
            updates.put(s.name(), after);
        }
    }

    /** The cached fragment when the service and its serving instances are equal to the cached ones, else a fresh one. */
    private Fragment fragment(Service s, List<Instance> serving) {
        Cached c = byService.get(s.name());
        if (c != null && c.service == s && c.serving == serving) {
            return c.fragment;
        }
        if (c != null && (c.service == s || c.service.equals(s)) && same(c.serving, serving)) {
            c = new Cached(s, serving, c.fragment); // equal, not shared: remember these objects for the identity test
        } else {
            c = new Cached(s, serving, NftRender.renderService(s, serving, config));
            fresh.add(c.fragment);
        }
        byService.put(s.name(), c);
        return c.fragment;
    }

    private static boolean same(List<Instance> a, List<Instance> b) {
        if (a == b) {
            return true;
        }
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i) != b.get(i) && !a.get(i).equals(b.get(i))) {
                return false;
            }
        }
        return true;
    }
}
