package io.portolan.lb.userspace;

import java.net.InetAddress;
import java.util.List;

/**
 * Smooth weighted round robin (nginx's): each pick adds every instance's weight to its current
 * value, takes the largest and subtracts the total from it. Weights 5,1,1 give a a b a c a a: the
 * heavy instance's turns are spread out, never bunched.
 */
final class WeightedRoundRobinScheduler implements Scheduler {
    private final Backend[] backends;
    private final int[] weights;
    private final long[] current;

    WeightedRoundRobinScheduler(List<Backend> backends) {
        this.backends = backends.toArray(new Backend[0]);
        this.weights = new int[this.backends.length];
        this.current = new long[this.backends.length];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = Math.max(1, this.backends[i].weight);
        }
    }

    @Override
    public synchronized Backend pick(InetAddress client, List<Backend> tried) {
        int best = -1;
        long total = 0;
        for (int i = 0; i < backends.length; i++) {
            if (!Scheduler.usable(backends[i], tried)) {
                continue;
            }
            current[i] += weights[i];
            total += weights[i];
            if (best < 0 || current[i] > current[best]) {
                best = i;
            }
        }
        if (best < 0) {
            return null;
        }
        current[best] -= total;
        return backends[best];
    }

    @Override
    public List<Backend> backends() {
        return List.of(backends);
    }
}
