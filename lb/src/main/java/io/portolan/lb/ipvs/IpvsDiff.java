package io.portolan.lb.ipvs;

import io.portolan.proto.Protocol;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The difference between what the kernel holds ({@link KernelTable}) and a {@link Plan}, as one
 * {@code ipvsadm -R} batch. Pure apart from the {@link Drains} it updates. Removal is graceful:
 * a real server that leaves the plan gets weight 0 first, and is deleted once its active and
 * inactive connections reach 0 or it has drained for {@code drainTimeout}; a virtual service that
 * leaves the plan is deleted when all its real servers may be. Removed UDP real servers are listed
 * for {@code conntrack -D}.
 */
final class IpvsDiff {
    private IpvsDiff() {
    }

    enum Kind { ADD_SERVICE, EDIT_SERVICE, DELETE_SERVICE, ADD_REAL, EDIT_REAL, DELETE_REAL }

    /** One ipvsadm restore line and what it does to the kernel table. */
    record Op(Kind kind, int mark, String service, String scheduler, Plan.RealServer real, int weight) {
        String line() {
            String f = "-f " + Integer.toUnsignedString(mark);
            return switch (kind) {
                case ADD_SERVICE -> "-A " + f + " -s " + scheduler;
                case EDIT_SERVICE -> "-E " + f + " -s " + scheduler;
                case DELETE_SERVICE -> "-D " + f;
                case ADD_REAL -> "-a " + f + " -r " + real + " -m -w " + weight;
                case EDIT_REAL -> "-e " + f + " -r " + real + " -m -w " + weight;
                case DELETE_REAL -> "-d " + f + " -r " + real;
            };
        }

        void applyTo(KernelTable t) {
            switch (kind) {
                case ADD_SERVICE -> t.services.put(mark, new KernelTable.Service(scheduler));
                case EDIT_SERVICE -> t.services.get(mark).scheduler = scheduler;
                case DELETE_SERVICE -> t.services.remove(mark);
                case ADD_REAL, EDIT_REAL -> t.services.get(mark).reals.put(real, new KernelTable.Real(weight, true));
                case DELETE_REAL -> t.services.get(mark).reals.remove(real);
            }
        }
    }

    /** A UDP real server removed from a frontend: its conntrack entries are cleared. */
    record ConntrackClear(MarkedPort frontend, Plan.RealServer real) {
    }

    /** Real servers at weight 0 waiting to be deleted, with the time their drain started. */
    static final class Drains {
        final Map<Integer, Map<Plan.RealServer, Long>> since = new HashMap<>();

        long start(int mark, Plan.RealServer r, long now) {
            return since.computeIfAbsent(mark, k -> new HashMap<>()).computeIfAbsent(r, k -> now);
        }

        void end(int mark, Plan.RealServer r) {
            Map<Plan.RealServer, Long> m = since.get(mark);
            if (m != null && m.remove(r) != null && m.isEmpty()) {
                since.remove(mark);
            }
        }

        void endAll(int mark) {
            since.remove(mark);
        }

        boolean isEmpty() {
            return since.isEmpty();
        }

        int size() {
            return since.values().stream().mapToInt(Map::size).sum();
        }
    }

    /** The batch, ops grouped by mark in mark order (a service's own lines stay together). */
    record Changes(List<Op> ops, List<ConntrackClear> clears) {
        String batch() {
            StringBuilder b = new StringBuilder(ops.size() * 40);
            ops.forEach(o -> b.append(o.line()).append('\n'));
            return b.toString();
        }

        boolean isEmpty() {
            return ops.isEmpty();
        }
    }

    /** The marks whose connection counts the next {@link #compute} needs: services with a real server at weight 0 to drop. */
    static Set<Integer> drainingMarks(KernelTable kernel, Plan plan) {
        Set<Integer> out = new TreeSet<>();
        kernel.services.forEach((mark, k) -> {
            Plan.VirtualService d = plan.services().get(mark);
            k.reals.forEach((r, kr) -> {
                if (kr.weight() == 0 && (d == null || !d.reals().containsKey(r))) {
                    out.add(mark);
                }
            });
        });
        return out;
    }

    /**
     * @param frontends what each mark stands for (plan and adopted rules), for conntrack clearing and names
     * @param rejected  marks whose last attempt the kernel refused, with the plan entry it refused:
     *                  not retried until that entry changes (or a full resync clears the map)
     * @param counts    connections per real server for the marks of {@link #drainingMarks}; a mark
     *                  missing here waits for its drain timeout
     */
    static Changes compute(KernelTable kernel, Plan plan, Map<Integer, MarkedPort> frontends, Map<Integer, Plan.VirtualService> rejected,
                           Drains drains, Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> counts, long nowMillis,
                           long drainTimeoutMillis) {
        return compute(kernel, plan, null, frontends, rejected, drains, counts, nowMillis, drainTimeoutMillis);
    }

    /**
     * With {@code previous} (the plan of the last sync, which left the kernel table matching it but
     * for {@code rejected} and the drains), only the marks whose virtual service is not the same
     * object as before, the marks gone since, and the draining marks are compared: a change costs
     * what changed, not the size of the table. Null compares every mark.
     */
    static Changes compute(KernelTable kernel, Plan plan, Plan previous, Map<Integer, MarkedPort> frontends,
                           Map<Integer, Plan.VirtualService> rejected, Drains drains,
                           Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> counts, long nowMillis, long drainTimeoutMillis) {
        return compute(kernel, plan, previous, null, frontends, rejected, drains, counts, nowMillis, drainTimeoutMillis);
    }

    /**
     * {@code changed}: when not null, the marks whose virtual service differs between
     * {@code previous} and {@code plan}, which have the same marks ({@link IpvsRender.Cache#changedSince}):
     * only those and the draining marks are compared, without a walk over every service.
     */
    static Changes compute(KernelTable kernel, Plan plan, Plan previous, Set<Integer> changed, Map<Integer, MarkedPort> frontends,
                           Map<Integer, Plan.VirtualService> rejected, Drains drains,
                           Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> counts, long nowMillis, long drainTimeoutMillis) {
        List<Op> ops = new ArrayList<>();
        List<ConntrackClear> clears = new ArrayList<>();
        TreeSet<Integer> marks = new TreeSet<>(Integer::compareUnsigned);
        if (previous != null && changed != null) {
            marks.addAll(changed);
            marks.addAll(drains.since.keySet());
            marks.retainAll(union(kernel.services.keySet(), plan.services().keySet()));
        } else if (previous == null) {
            marks.addAll(kernel.services.keySet());
            marks.addAll(plan.services().keySet());
        } else {
            plan.services().forEach((m, v) -> {
                if (previous.services().get(m) != v) {
                    marks.add(m);
                }
            });
            previous.services().keySet().forEach(m -> {
                if (!plan.services().containsKey(m)) {
                    marks.add(m);
                }
            });
            marks.addAll(drains.since.keySet());
            marks.retainAll(union(kernel.services.keySet(), plan.services().keySet()));
        }
        for (int mark : marks) {
            Plan.VirtualService want = plan.services().get(mark);
            KernelTable.Service have = kernel.services.get(mark);
            MarkedPort frontend = want != null ? want.frontend() : frontends.get(mark);
            if (want != null) {
                if (want.equals(rejected.get(mark))) {
                    continue;
                }
                String name = want.service();
                if (have == null) {
                    ops.add(new Op(Kind.ADD_SERVICE, mark, name, want.scheduler(), null, 0));
                    want.reals().forEach((r, w) -> ops.add(new Op(Kind.ADD_REAL, mark, name, null, r, w)));
                    drains.endAll(mark);
                    continue;
                }
                if (!have.scheduler.equals(want.scheduler())) {
                    ops.add(new Op(Kind.EDIT_SERVICE, mark, name, want.scheduler(), null, 0));
                }
                want.reals().forEach((r, w) -> {
                    KernelTable.Real k = have.reals.get(r);
                    if (k == null) {
                        ops.add(new Op(Kind.ADD_REAL, mark, name, null, r, w));
                    } else if (k.weight() != w || !k.masquerade()) {
                        ops.add(new Op(Kind.EDIT_REAL, mark, name, null, r, w));
                    }
                    drains.end(mark, r);
                });
                have.reals.forEach((r, k) -> {
                    if (!want.reals().containsKey(r)) {
                        drainOrDelete(ops, clears, mark, name, frontend, r, k, drains, counts, nowMillis, drainTimeoutMillis);
                    }
                });
            } else {
                String name = frontend == null ? String.format("(mark 0x%08x)", mark) : "(removed, " + frontend + ")";
                List<Op> realOps = new ArrayList<>();
                List<ConntrackClear> realClears = new ArrayList<>();
                boolean allGone = true;
                for (Map.Entry<Plan.RealServer, KernelTable.Real> e : have.reals.entrySet()) {
                    allGone &= drainOrDelete(realOps, realClears, mark, name, frontend, e.getKey(), e.getValue(), drains, counts,
                            nowMillis, drainTimeoutMillis);
                }
                if (allGone) {
                    ops.add(new Op(Kind.DELETE_SERVICE, mark, name, null, null, 0));
                    clears.addAll(realClears);
                    drains.endAll(mark);
                } else {
                    ops.addAll(realOps);
                    clears.addAll(realClears);
                }
            }
        }
        return new Changes(List.copyOf(ops), List.copyOf(clears));
    }

    private static Set<Integer> union(Set<Integer> a, Set<Integer> b) {
        return new java.util.AbstractSet<>() {
            @Override
            public boolean contains(Object o) {
                return a.contains(o) || b.contains(o);
            }

            @Override
            public java.util.Iterator<Integer> iterator() {
                throw new UnsupportedOperationException();
            }

            @Override
            public int size() {
                throw new UnsupportedOperationException();
            }
        };
    }

    /** Adds a weight-0 edit or a delete for one real server; true when it may be deleted now. */
    private static boolean drainOrDelete(List<Op> ops, List<ConntrackClear> clears, int mark, String name, MarkedPort frontend,
                                         Plan.RealServer r, KernelTable.Real k, Drains drains,
                                         Map<Integer, Map<Plan.RealServer, KernelTable.Connections>> counts, long now,
                                         long drainTimeout) {
        long since = drains.start(mark, r, now);
        boolean ready;
        if (k.weight() != 0) {
            ready = drainTimeout == 0;
            if (!ready) {
                ops.add(new Op(Kind.EDIT_REAL, mark, name, null, r, 0));
                return false;
            }
        } else {
            KernelTable.Connections c = counts.getOrDefault(mark, Map.of()).get(r);
            ready = (c != null && c.total() == 0) || now - since >= drainTimeout;
        }
        if (!ready) {
            return false;
        }
        ops.add(new Op(Kind.DELETE_REAL, mark, name, null, r, 0));
        drains.end(mark, r);
        if (frontend != null && frontend.protocol() == Protocol.UDP) {
            clears.add(new ConntrackClear(frontend, r));
        }
        return true;
    }
}
