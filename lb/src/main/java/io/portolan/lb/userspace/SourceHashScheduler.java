package io.portolan.lb.userspace;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * Source-address affinity: a client keeps its instance while it comes back within the affinity
 * timeout and that instance is still in the plan and not ejected. A new client is placed by
 * weighted rendezvous hashing of its address, so a change of instances moves only the clients of
 * the instances that changed. The affinity table belongs to the service port and outlives plans.
 */
final class SourceHashScheduler implements Scheduler {
    /** Sweep expired entries when the table grows past this. */
    static final int SWEEP_AT = 65_536;

    record Affinity(String backendKey, long expiresAtNanos) {
    }

    private final Backend[] backends;
    private final long[] seeds;
    private final int[] weights;
    private final Map<InetAddress, Affinity> affinity;
    private final long affinityNanos;

    SourceHashScheduler(List<Backend> backends, Map<InetAddress, Affinity> affinity, long affinityNanos) {
        this.backends = backends.toArray(new Backend[0]);
        this.seeds = new long[this.backends.length];
        this.weights = new int[this.backends.length];
        for (int i = 0; i < seeds.length; i++) {
            seeds[i] = mix(this.backends[i].key.hashCode() * 0x9E3779B97F4A7C15L);
            weights[i] = Math.max(1, this.backends[i].weight);
        }
        this.affinity = affinity;
        this.affinityNanos = affinityNanos;
    }

    @Override
    public Backend pick(InetAddress client, List<Backend> tried) {
        if (backends.length == 0) {
            return null;
        }
        long now = System.nanoTime();
        Affinity a = affinity.get(client);
        if (a != null && a.expiresAtNanos - now > 0) {
            for (Backend b : backends) {
                if (b.key.equals(a.backendKey) && Scheduler.usable(b, tried)) {
                    affinity.put(client, new Affinity(b.key, now + affinityNanos));
                    return b;
                }
            }
        }
        long h = mix(addressHash(client));
        int best = -1;
        double bestScore = 0;
        for (int i = 0; i < backends.length; i++) {
            if (!Scheduler.usable(backends[i], tried)) {
                continue;
            }
            // weighted rendezvous: -w / ln(u), u uniform in (0,1) from hash(client, instance)
            long x = mix(h ^ seeds[i]);
            double u = ((x >>> 11) + 0.5) / (double) (1L << 53);
            double score = -weights[i] / Math.log(u);
            if (best < 0 || score > bestScore) {
                best = i;
                bestScore = score;
            }
        }
        if (best < 0) {
            return null;
        }
        if (affinity.size() >= SWEEP_AT) {
            affinity.values().removeIf(e -> e.expiresAtNanos - now <= 0);
        }
        affinity.put(client, new Affinity(backends[best].key, now + affinityNanos));
        return backends[best];
    }

    @Override
    public List<Backend> backends() {
        return List.of(backends);
    }

    private static long addressHash(InetAddress a) {
        long h = 1125899906842597L;
        for (byte b : a.getAddress()) {
            h = 31 * h + (b & 0xff);
        }
        return h;
    }

    /** SplitMix64's finaliser. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
