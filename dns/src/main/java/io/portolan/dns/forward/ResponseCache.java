package io.portolan.dns.forward;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Upstream responses by question, bounded in bytes: segments of access-ordered maps, each evicting
 * its least recently used entries past its share of the bound. An entry is served until its TTL
 * (positive: the smallest record TTL; negative: the SOA's, RFC 2308) runs out.
 */
final class ResponseCache {
    static final int ENTRY_OVERHEAD = 160;
    private final Segment[] segments;
    private final AtomicLong bytes = new AtomicLong();

    ResponseCache(long maxBytes) {
        int n = 16;
        segments = new Segment[n];
        for (int i = 0; i < n; i++) {
            segments[i] = new Segment(Math.max(1, maxBytes / n));
        }
    }

    CachedResponse get(Key key, long now) {
        Segment s = segments[key.hash & (segments.length - 1)];
        synchronized (s) {
            CachedResponse r = s.map.get(key);
            if (r == null) {
                return null;
            }
            if (r.expired(now)) {
                s.map.remove(key);
                s.remove(key, r);
                return null;
            }
            return r;
        }
    }

    void put(Key key, CachedResponse r) {
        Segment s = segments[key.hash & (segments.length - 1)];
        long cost = cost(key, r);
        if (cost > s.max) {
            return;
        }
        synchronized (s) {
            CachedResponse old = s.map.put(key, r);
            if (old != null) {
                s.remove(key, old);
            }
            s.used += cost;
            bytes.addAndGet(cost);
            Iterator<Map.Entry<Key, CachedResponse>> it = s.map.entrySet().iterator();
            while (s.used > s.max && it.hasNext()) {
                Map.Entry<Key, CachedResponse> e = it.next();
                it.remove();
                s.remove(e.getKey(), e.getValue());
            }
        }
    }

    long bytes() {
        return bytes.get();
    }

    int entries() {
        int n = 0;
        for (Segment s : segments) {
            synchronized (s) {
                n += s.map.size();
            }
        }
        return n;
    }

    static long cost(Key k, CachedResponse r) {
        return ENTRY_OVERHEAD + k.question.length + r.size() + 8L * r.ttls.length;
    }

    private final class Segment {
        final long max;
        long used;
        final LinkedHashMap<Key, CachedResponse> map = new LinkedHashMap<>(64, 0.75f, true);

        Segment(long max) {
            this.max = max;
        }

        void remove(Key k, CachedResponse r) {
            long c = cost(k, r);
            used -= c;
            bytes.addAndGet(-c);
        }
    }

    /** A question in lower case (name, type, class): the cache key and the in-flight key. */
    static final class Key {
        final byte[] question;
        final int hash;

        Key(byte[] question) {
            this.question = question;
            this.hash = Arrays.hashCode(question) * 0x9E3779B9 >>> 8;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.hash == hash && Arrays.equals(k.question, question);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }
}
