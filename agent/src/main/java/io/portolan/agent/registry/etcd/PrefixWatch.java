package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import io.github.resilience4j.core.IntervalFunction;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.agent.registry.KvEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The registry's never-miss-an-event watch, for any other prefix of the same etcd (an importer's:
 * Dubbo's keys): a listing at revision R in pages, all read at R; then a watch from R+1 with prevKV,
 * progress notifications and require-leader; a compaction leads to a re-list handed to the sink as
 * a whole (which diffs it against what it holds, so no delete is missed); any other end of the watch
 * to a resume from the last revision seen, with exponential backoff. Reads only: it never writes.
 * Runs on the registry's jetcd client and timeout, on a thread of its own.
 */
public final class PrefixWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PrefixWatch.class);
    private static final int PAGE = 2_000;

    /** Where the watched keys go; called from one thread at a time. */
    public interface Sink {
        /** The whole prefix at {@code revision}: first the initial listing, then after every compaction. */
        void reset(Map<String, byte[]> listing, long revision);

        /** Changes observed up to {@code revision}. */
        void apply(List<KvEvent> events, long revision);

        /** Only the revision moved (a progress notification). */
        default void progress(long revision) {
        }
    }

    private final EtcdRegistry registry;
    private final String name;
    private final String prefix;
    private final Sink sink;
    private final ScheduledExecutorService scheduler;
    private final IntervalFunction backoff = IntervalFunction.ofExponentialRandomBackoff(200, 2.0, 0.3, 10_000);
    private final AtomicInteger failures = new AtomicInteger();
    private final AtomicInteger generation = new AtomicInteger();
    private final Counter restarts;
    private final Counter compactions;
    private final Counter relists;
    private volatile Watch.Watcher watcher;
    private volatile long lastRevision;
    private volatile boolean closed;

    PrefixWatch(EtcdRegistry registry, String name, String prefix, Sink sink, MeterRegistry meters) {
        if (prefix == null || prefix.isEmpty()) {
            throw new IllegalArgumentException("an empty prefix would watch all of etcd");
        }
        this.registry = registry;
        this.name = name;
        this.prefix = prefix;
        this.sink = sink;
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "watch-" + name);
            t.setDaemon(true);
            return t;
        });
        this.restarts = Counter.builder("portolan_import_watch_restarts").description("imported prefixes' watches resumed after a close")
                .tag("prefix", prefix).register(meters);
        this.compactions = Counter.builder("portolan_import_compactions")
                .description("imported prefixes' watches that hit a compacted revision").tag("prefix", prefix).register(meters);
        this.relists = Counter.builder("portolan_import_listings").description("full listings of imported prefixes")
                .tag("prefix", prefix).register(meters);
    }

    public String prefix() {
        return prefix;
    }

    void start() {
        scheduler.execute(this::relist);
    }

    private void relist() {
        if (closed) {
            return;
        }
        try {
            long rev = list();
            lastRevision = rev;
            failures.set(0);
            subscribe(rev + 1);
        } catch (RuntimeException e) {
            long wait = backoff.apply(Math.min(failures.incrementAndGet(), 20));
            log.warn("{}: listing {} failed ({}); keeping what was imported, retrying in {} ms", name, prefix, e.toString(), wait);
            schedule(this::relist, wait);
        }
    }

    /** The whole prefix at one revision, in pages all read at the first page's revision; handed to the sink. */
    private long list() {
        ByteSequence end = ByteSequence.from(EtcdRegistry.prefixEnd(prefix));
        Map<String, byte[]> values = new HashMap<>();
        ByteSequence from = EtcdRegistry.bytes(prefix);
        long revision = 0;
        while (true) {
            GetOption.Builder opt = GetOption.builder().withRange(end).withLimit(PAGE);
            if (revision != 0) {
                opt.withRevision(revision);
            }
            GetResponse r = registry.call(registry.client().getKVClient().get(from, opt.build()), "list " + prefix);
            if (revision == 0) {
                revision = r.getHeader().getRevision();
            }
            KeyValue last = null;
            for (KeyValue kvp : r.getKvs()) {
                values.put(EtcdRegistry.string(kvp.getKey()), kvp.getValue().getBytes());
                last = kvp;
            }
            if (!r.isMore() || last == null) {
                break;
            }
            byte[] k = last.getKey().getBytes();
            from = ByteSequence.from(Arrays.copyOf(k, k.length + 1));
        }
        relists.increment();
        sink.reset(values, revision);
        return revision;
    }

    private void subscribe(long fromRevision) {
        if (closed) {
            return;
        }
        int gen = generation.incrementAndGet();
        Watch.Watcher old = watcher;
        if (old != null) {
            old.close();
        }
        WatchOption option = WatchOption.builder()
                .isPrefix(true)
                .withRevision(fromRevision)
                .withPrevKV(true)
                .withProgressNotify(true)
                .withRequireLeader(true)
                .build();
        watcher = registry.client().getWatchClient().watch(EtcdRegistry.bytes(prefix), option, Watch.listener(
                r -> later(() -> onWatch(gen, r)),
                t -> later(() -> onError(gen, t)),
                () -> later(() -> onClosed(gen))));
        log.debug("{}: watching {} from revision {}", name, prefix, fromRevision);
    }

    // The callbacks run on this watch's own thread, so the sink sees one call at a time, in order.

    private void onWatch(int gen, WatchResponse r) {
        if (gen != generation.get() || closed) {
            return;
        }
        failures.set(0);
        List<WatchEvent> events = r.getEvents();
        if (events.isEmpty()) {
            long rev = r.getHeader().getRevision();
            if (rev > lastRevision) {
                lastRevision = rev;
                sink.progress(rev);
            }
            return;
        }
        List<KvEvent> batch = new ArrayList<>(events.size());
        long maxMod = 0;
        for (WatchEvent e : events) {
            KeyValue kvp = e.getKeyValue();
            long mod = kvp.getModRevision();
            maxMod = Math.max(maxMod, mod);
            String key = EtcdRegistry.string(kvp.getKey());
            batch.add(e.getEventType() == WatchEvent.EventType.DELETE ? new KvEvent(key, null, mod)
                    : new KvEvent(key, kvp.getValue().getBytes(), mod));
        }
        // only the events' own revision is known to be complete (a fragment's header may run ahead)
        lastRevision = Math.max(maxMod, lastRevision);
        sink.apply(batch, lastRevision);
    }

    private void onError(int gen, Throwable t) {
        if (gen != generation.get() || closed) {
            return;
        }
        Throwable cause = t;
        while (cause != null && !(cause instanceof CompactedException)) {
            cause = cause.getCause();
        }
        generation.incrementAndGet();
        if (cause != null) {
            compactions.increment();
            log.warn("{}: watch of {} fell behind a compaction (last seen revision {}); re-listing and diffing", name, prefix, lastRevision);
            relist();
            return;
        }
        restarts.increment();
        long wait = backoff.apply(Math.min(failures.incrementAndGet(), 20));
        log.warn("{}: watch of {} failed ({}); resuming from revision {} in {} ms", name, prefix, t.toString(), lastRevision + 1, wait);
        schedule(() -> subscribe(lastRevision + 1), wait);
    }

    private void onClosed(int gen) {
        if (gen != generation.get() || closed) {
            return;
        }
        restarts.increment();
        generation.incrementAndGet();
        log.info("{}: watch of {} closed by the client; resuming from revision {}", name, prefix, lastRevision + 1);
        schedule(() -> subscribe(lastRevision + 1), 100);
    }

    /** Runs {@code r} on this watch's thread (jetcd calls back on its own); nothing once closed. */
    private void later(Runnable r) {
        try {
            scheduler.execute(r);
        } catch (RejectedExecutionException closing) {
            // closed meanwhile
        }
    }

    private void schedule(Runnable r, long millis) {
        if (!closed) {
            try {
                scheduler.schedule(r, millis, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException ignored) {
                // closing
            }
        }
    }

    /** The last revision the sink was given (for tests and diagnostics). */
    public long revision() {
        return lastRevision;
    }

    @Override
    public void close() {
        closed = true;
        generation.incrementAndGet();
        Watch.Watcher w = watcher;
        if (w != null) {
            w.close();
        }
        scheduler.shutdownNow();
    }

    @Override
    public String toString() {
        return name + " watch of " + prefix;
    }
}
