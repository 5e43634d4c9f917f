package io.portolan.lb.userspace;

import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Weighted least connections: the instance with the fewest open connections per unit of weight.
 * Ties are broken by a rotating start, so equal instances share new connections in turn.
 */
final class LeastConnectionsScheduler implements Scheduler {
    private final Backend[] backends;
    private final int[] weights;
    private final AtomicInteger rotate = new AtomicInteger();

    LeastConnectionsScheduler(List<Backend> backends) {
        this.backends = backends.toArray(new Backend[0]);
        this.weights = new int[this.backends.length];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = Math.max(1, this.backends[i].weight);
        }
    }

    @Override
    public Backend pick(InetAddress client, List<Backend> tried) {
        int n = backends.length;
        if (n == 0) {
            return null;
        }
        int start = Math.floorMod(rotate.getAndIncrement(), n);
        int best = -1;
        long bestActive = 0;
        for (int k = 0; k < n; k++) {
            int i = (start + k) % n;
            Backend b = backends[i];
            if (!Scheduler.usable(b, tried)) {
                continue;
            }
            long active = b.active.get();
            // active_i / w_i < active_best / w_best, without division
            if (best < 0 || active * weights[best] < bestActive * weights[i]) {
                best = i;
                bestActive = active;
            }
        }
        return best < 0 ? null : backends[best];
    }

    @Override
    public List<Backend> backends() {
        return List.of(backends);
    }
}
