package io.portolan.dns.bench;

import io.portolan.dns.answer.ZoneCompiler;
import io.portolan.dns.answer.ZoneTable;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.testing.Snapshots;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * What {@code DnsServer.update} costs at scale: 10,000 {@code vip} services of 10 instances each
 * (270,003 names), a full build from nothing, then one instance change per snapshot (removed, and
 * put back in the next snapshot), each snapshot built from the previous one with
 * {@link ClusterSnapshot#next} as the registry does; then the same in snapshots built afresh (no
 * delta: every service is compared). Prints the full build and the median, p90 and max of one
 * change. Run: {@code java -cp ... io.portolan.dns.bench.ZoneTableUpdateBench [services]
 * [instances] [changes]}.
 */
public final class ZoneTableUpdateBench {
    static final String Z = "portolan.internal.";

    private ZoneTableUpdateBench() {
    }

    /** Builds the table for each snapshot it is given, as the server does: the first one from nothing. */
    static Function<ClusterSnapshot, ZoneTable> updater() {
        return new ZoneCompiler(Z, 5, List.of())::compile;
    }

    public static void main(String[] args) {
        int services = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int perService = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int changes = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        Snapshots b = Snapshots.builder();
        for (int i = 0; i < services; i++) {
            String name = "svc" + i;
            b.vip(name, "10.96." + (i / 250) + "." + (i % 250 + 1), "http:80/tcp");
            for (int j = 0; j < perService; j++) {
                b.instance(name, name + "-" + j, "10." + (100 + j) + "." + (i / 250) + "." + (i % 250 + 1), "http:8080/tcp");
            }
        }
        ClusterSnapshot s = b.build(1);
        for (int w = 0; w < 3; w++) {
            long t0 = System.nanoTime();
            ZoneTable full = updater().apply(s);
            System.out.printf("full build %.1f ms, %d names%n", (System.nanoTime() - t0) / 1e6, full.nameCount());
        }
        Function<ClusterSnapshot, ZoneTable> update = updater();
        update.apply(s);
        // Warm-up rounds, then the measured one. Each snapshot changes one instance: even steps
        // remove the first instance of a service, odd steps put it back.
        long[] ts = new long[changes];
        Map<String, List<Instance>> instances = new HashMap<>(s.instancesByService());
        Instance removed = null;
        for (int round = 0; round < 3; round++) {
            for (int k = 0; k < changes; k++) {
                String name = "svc" + ((k / 2 * 37 + round * 1009) % services);
                removed = toggle(instances, name, k % 2 == 0, removed);
                ClusterSnapshot n = ClusterSnapshot.next(s, s.revision() + 1, s.services(), instances, Set.of(name));
                long t0 = System.nanoTime();
                update.apply(n);
                ts[k] = System.nanoTime() - t0;
                s = n;
            }
        }
        print("one change, snapshot from next()", ts);
        // The same changes in snapshots built afresh: no delta, so every service is compared (the
        // definitions are the same objects, the instance lists equal copies).
        int fresh = Math.max(2, changes / 4);
        long[] tf = new long[fresh];
        for (int k = 0; k < fresh; k++) {
            String name = "svc" + (k / 2 * 53 % services);
            removed = toggle(instances, name, k % 2 == 0, removed);
            ClusterSnapshot n = new ClusterSnapshot(s.revision() + 1, s.services(), instances);
            long t0 = System.nanoTime();
            update.apply(n);
            tf[k] = System.nanoTime() - t0;
            s = n;
        }
        print("one change, snapshot built afresh", tf);
    }

    static void print(String what, long[] ts) {
        Arrays.sort(ts);
        System.out.printf("%s (%d snapshots): median %.2f ms, p90 %.2f ms, max %.2f ms%n", what, ts.length,
                ts[ts.length / 2] / 1e6, ts[ts.length * 9 / 10] / 1e6, ts[ts.length - 1] / 1e6);
    }

    /** Removes the service's first instance (returned) or puts {@code removed} back, in a new list. */
    private static Instance toggle(Map<String, List<Instance>> instances, String name, boolean remove, Instance removed) {
        List<Instance> l = new ArrayList<>(instances.get(name));
        if (remove) {
            removed = l.remove(0);
        } else {
            l.add(removed);
        }
        instances.put(name, l);
        return removed;
    }
}
