package io.portolan.dns.server;

import java.net.InetAddress;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A token bucket per source address: {@code rate} queries per second, bursts up to one second's
 * worth. Past it, every other query is answered REFUSED (a legitimate client learns why) and the
 * rest dropped (a spoofed flood gets no reflection). The table is cleared when it grows past
 * {@link #MAX_SOURCES}, which bounds its memory.
 */
final class RateLimiter {
    static final int ALLOW = 0;
    static final int REFUSE = 1;
    static final int DROP = 2;
    static final int MAX_SOURCES = 65_536;

    private final double perNano;
    private final double capacity;
    private final ConcurrentHashMap<InetAddress, Bucket> buckets = new ConcurrentHashMap<>();

    RateLimiter(int rate) {
        this.perNano = rate / 1e9;
        this.capacity = rate;
    }

    int check(InetAddress source, long now) {
        Bucket b = buckets.get(source);
        if (b == null) {
            if (buckets.size() >= MAX_SOURCES) {
                buckets.clear();
            }
            b = buckets.computeIfAbsent(source, k -> new Bucket(capacity, now));
        }
        synchronized (b) {
            b.tokens = Math.min(capacity, b.tokens + (now - b.last) * perNano);
            b.last = now;
            if (b.tokens >= 1) {
                b.tokens -= 1;
                return ALLOW;
            }
            return (++b.over & 1) == 1 ? REFUSE : DROP;
        }
    }

    private static final class Bucket {
        double tokens;
        long last;
        long over;

        Bucket(double tokens, long last) {
            this.tokens = tokens;
            this.last = last;
        }
    }
}
