package io.portolan.lb.userspace;

import java.net.InetAddress;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Picks the instance for a new connection or flow. One scheduler is built per service port and
 * snapshot in {@code update()}, holding the precomputed plan (instances and weights); {@link #pick}
 * runs on the event loops, concurrently.
 */
interface Scheduler {
    /**
     * The instance for a connection from {@code client}, skipping ejected instances and those in
     * {@code tried} (failed connects of this same connection); null when none is left.
     */
    Backend pick(InetAddress client, List<Backend> tried);

    /** The plan's instances, in plan order. */
    List<Backend> backends();

    /** The scheduler names a service may carry; unknown names fall back to {@code wrr}. */
    static Scheduler create(String name, List<Backend> backends, Map<InetAddress, SourceHashScheduler.Affinity> affinity,
                            long affinityNanos) {
        switch (canonical(name)) {
            case "rr":
                return new RoundRobinScheduler(backends);
            case "lc":
                return new LeastConnectionsScheduler(backends);
            case "p2c":
                return new PowerOfTwoScheduler(backends);
            case "sh":
                return new SourceHashScheduler(backends, affinity == null ? new ConcurrentHashMap<>() : affinity, affinityNanos);
            default:
                return new WeightedRoundRobinScheduler(backends);
        }
    }

    /** Maps aliases (IPVS's names) onto the five schedulers: rr, wrr, lc, p2c, sh. */
    static String canonical(String name) {
        String n = name == null ? "wrr" : name.toLowerCase(Locale.ROOT);
        switch (n) {
            case "rr":
            case "wrr":
            case "lc":
            case "p2c":
            case "sh":
                return n;
            case "wlc":
            case "lblc":
            case "sed":
            case "nq":
                return "lc";
            case "mh":
            case "dh":
                return "sh";
            default:
                return "wrr";
        }
    }

    static boolean usable(Backend b, List<Backend> tried) {
        return b.eligible() && (tried.isEmpty() || !tried.contains(b));
    }
}
