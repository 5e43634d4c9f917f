package io.portolan.lb.userspace;

import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/** Plain round robin, weights ignored: over any run of N picks with nothing skipped, each instance gets one. */
final class RoundRobinScheduler implements Scheduler {
    private final Backend[] backends;
    private final AtomicLong next = new AtomicLong();

    RoundRobinScheduler(List<Backend> backends) {
        this.backends = backends.toArray(new Backend[0]);
    }

    @Override
    public Backend pick(InetAddress client, List<Backend> tried) {
        int n = backends.length;
        if (n == 0) {
            return null;
        }
        int start = (int) Math.floorMod(next.getAndIncrement(), (long) n);
        for (int i = 0; i < n; i++) {
            Backend b = backends[(start + i) % n];
            if (Scheduler.usable(b, tried)) {
                return b;
            }
        }
        return null;
    }

    @Override
    public List<Backend> backends() {
        return List.of(backends);
    }
}
