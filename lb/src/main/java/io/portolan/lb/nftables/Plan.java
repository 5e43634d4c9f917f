package io.portolan.lb.nftables;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The changes one sync makes, as groups of operations: the table's fixed part first ({@link #pre}),
 * then one group per changed service, then stale objects, then removals from the fixed part
 * ({@link #post}). {@link #script()} is the whole thing as one {@code nft -f -} transaction; a group
 * alone ({@link #script(List)}) is what is retried when the kernel rejects the whole. {@link #replace}: the
 * table found was written by an earlier layout; the script that carries {@link #pre} deletes it first, in
 * the same transaction, and every object is added anew.
 */
record Plan(String table, boolean full, boolean replace, List<String> declarations, Group pre, List<Group> groups, Group post) {
    static final String STALE = "(stale)";

    enum OpType {
        /** Create the object. */
        ADD,
        /** Replace the object's content (element: delete + add; chain: flush + rules). */
        REPLACE,
        /** Same content, now owned by this group's service: nothing to send. */
        CLAIM,
        /** Add an object another service holds with other content: the kernel decides (and refuses). */
        CONFLICT,
        DELETE
    }

    record Op(OpType type, NftObject object) {
    }

    record Group(String owner, List<Op> ops) {
        boolean sendsNothing() {
            for (Op op : ops) {
                if (op.type() != OpType.CLAIM) {
                    return false;
                }
            }
            return true;
        }
    }

    boolean isEmpty() {
        if (replace || !declarations.isEmpty() || !pre.sendsNothing() || !post.sendsNothing()) {
            return false;
        }
        for (Group g : groups) {
            if (!g.sendsNothing()) {
                return false;
            }
        }
        return true;
    }

    private static final int ELEMENTS_PER_COMMAND = 1000;

    /** The whole plan as one transaction. */
    String script() {
        List<Group> all = new ArrayList<>();
        all.add(pre);
        all.addAll(groups);
        all.add(post);
        return script(all);
    }

    /**
     * The declarations (table, maps) and {@code selected}, phase by phase across the groups: new sets
     * and chains, chain rules, element deletes, element adds (one command per map and 1,000 elements:
     * nft pays per command), then chains and sets that go.
     */
    String script(List<Group> selected) {
        StringBuilder b = new StringBuilder();
        if (replace && selected.stream().anyMatch(g -> g == pre)) {
            b.append("delete table ip ").append(table).append('\n');
        }
        for (String d : declarations) {
            b.append(d).append('\n');
        }
        String t = "ip " + table + " ";
        List<NftObject> newSets = new ArrayList<>();
        List<NftObject> newChains = new ArrayList<>();
        List<NftObject> rewrittenChains = new ArrayList<>();
        List<NftObject> goneChains = new ArrayList<>();
        List<NftObject> goneSets = new ArrayList<>();
        Map<String, List<NftObject>> deleteElements = new LinkedHashMap<>();
        Map<String, List<NftObject>> addElements = new LinkedHashMap<>();
        List<String> owners = new ArrayList<>();
        for (Group g : selected) {
            if (g.sendsNothing()) {
                continue;
            }
            owners.add(g.owner().isEmpty() ? "(table)" : g.owner());
            for (Op op : g.ops()) {
                NftObject o = op.object();
                switch (o.kind()) {
                    case SET -> {
                        if (op.type() == OpType.ADD || op.type() == OpType.CONFLICT) {
                            newSets.add(o);
                        } else if (op.type() == OpType.DELETE) {
                            goneSets.add(o);
                        }
                    }
                    case CHAIN -> {
                        switch (op.type()) {
                            case ADD, CONFLICT -> newChains.add(o);
                            case REPLACE -> rewrittenChains.add(o);
                            case DELETE -> goneChains.add(o);
                            default -> {
                            }
                        }
                    }
                    case ELEMENT -> {
                        switch (op.type()) {
                            case ADD, CONFLICT -> addElements.computeIfAbsent(o.container(), k -> new ArrayList<>()).add(o);
                            case REPLACE -> {
                                deleteElements.computeIfAbsent(o.container(), k -> new ArrayList<>()).add(o);
                                addElements.computeIfAbsent(o.container(), k -> new ArrayList<>()).add(o);
                            }
                            case DELETE -> deleteElements.computeIfAbsent(o.container(), k -> new ArrayList<>()).add(o);
                            default -> {
                            }
                        }
                    }
                }
            }
        }
        if (owners.isEmpty()) {
            return b.toString();
        }
        b.append("# ").append(owners.size() <= 20 ? String.join(", ", owners) : owners.size() + " groups").append('\n');
        for (NftObject s : newSets) {
            b.append("add set ").append(t).append(s.key()).append(" { ").append(s.value()).append(" }\n");
        }
        for (NftObject c : newChains) {
            b.append("add chain ").append(t).append(c.key());
            if (!c.container().isEmpty()) {
                b.append(" { ").append(c.container()).append(" }");
            }
            b.append('\n');
        }
        for (NftObject c : rewrittenChains) {
            if (!c.container().isEmpty()) {
                // a base chain read back from the kernel: make sure it exists with its hook
                b.append("add chain ").append(t).append(c.key()).append(" { ").append(c.container()).append(" }\n");
            }
            b.append("flush chain ").append(t).append(c.key()).append('\n');
        }
        for (List<NftObject> chains : List.of(newChains, rewrittenChains)) {
            for (NftObject c : chains) {
                if (c.value() == null || c.value().isEmpty()) {
                    continue;
                }
                for (String rule : c.value().split("\n")) {
                    b.append("add rule ").append(t).append(c.key()).append(' ').append(rule).append('\n');
                }
            }
        }
        for (var e : deleteElements.entrySet()) {
            elements(b, "delete element " + t + e.getKey(), e.getValue(), false);
        }
        for (var e : addElements.entrySet()) {
            elements(b, "add element " + t + e.getKey(), e.getValue(), true);
        }
        for (NftObject c : goneChains) {
            b.append("flush chain ").append(t).append(c.key()).append('\n');
        }
        for (NftObject c : goneChains) {
            b.append("delete chain ").append(t).append(c.key()).append('\n');
        }
        for (NftObject s : goneSets) {
            b.append("delete set ").append(t).append(s.key()).append('\n');
        }
        return b.toString();
    }

    private static void elements(StringBuilder b, String command, List<NftObject> list, boolean withValues) {
        for (int i = 0; i < list.size(); i += ELEMENTS_PER_COMMAND) {
            b.append(command).append(" { ");
            int end = Math.min(list.size(), i + ELEMENTS_PER_COMMAND);
            for (int j = i; j < end; j++) {
                NftObject o = list.get(j);
                if (j > i) {
                    b.append(", ");
                }
                o.appendKey(b);
                if (withValues && o.hasValue()) {
                    o.appendValue(b.append(" : "));
                }
            }
            b.append(" }\n");
        }
    }
}
