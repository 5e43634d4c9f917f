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
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.core.IntervalFunction;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
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
 * The never-miss-an-event watch of one prefix of etcd: the registry's own and every importer's
 * (Dubbo's keys) run this one class.
 *
 * <ul>
 * <li>A listing at revision R, in pages all read at R, handed to the sink as a whole; then a watch
 *     from R+1 with prevKV, progress notifications and require-leader.
 * <li>The resume point is the last revision whose events the sink got (the listing's, then the
 *     newest event's). Any end of the watch other than a compaction resumes from there + 1, with
 *     exponential backoff up to {@value #RESUME_MAX_MS} ms; a compaction leads to a re-list, which
 *     the sink diffs against what it holds, so no delete is missed. That re-list waits for this
 *     agent's turn among the fleet's nodes ({@link #relistDelay}), so agents that come back together
 *     do not all list at once.
 * <li>Silence, without polling: the watch shares its member's one connection with the registry's
 *     calls, the lease keep-alives among them (every TTL/3, at least every 3.4 s on an agent), and
 *     any answer there shows the member alive. A keep-alive that times out leaves the member
 *     ({@link Members#failed}), and the watch resumes on the next one. Only when neither the watch
 *     nor its member has answered anything for {@value #PROBE_AFTER_MS} ms (a registry holding no
 *     lease) does the watch ask etcd for a progress notification, once a tick; when nothing (no
 *     event, no answer through the member) has come for {@value #SILENCE_MS} ms, the stream is
 *     taken as dead (its member cut off from us: a gRPC stream to it just goes silent until gRPC's
 *     keepalive gives up, 15 s) and the watch resumes on the next member at once. Each silence in
 *     a row doubles that bound (up to {@value #SILENCE_MAX_MS} ms) until something is heard again.
 * <li>A progress answer proves the stream alive and nothing more: it does not move the resume
 *     point nor the sink's revision. etcd 3.4 answers a progress request with its current revision
 *     even while events before it are still on their way to this watcher, so resuming after such
 *     a revision could skip events.
 * </ul>
 * Reads only: it never writes. Listings are the registry's calls (its timeout); the watch runs on
 * the same member's client; every callback runs on this watch's own thread, so the sink sees one call
 * at a time, in order.
 */
public final class PrefixWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PrefixWatch.class);
    private static final int PAGE = 2_000;
    /** How often the watch looks at how long its member has been quiet. */
    static final long TICK_MS = 1_000;
    /** A watch whose member has answered nothing for this long asks for a progress notification (once a tick). */
    static final long PROBE_AFTER_MS = 5_000;
    /** How long a watch may stay silent (no event, no answer through its member) before it is moved to another member. */
    static final long SILENCE_MS = 8_000;
    static final long SILENCE_MAX_MS = 30_000;
    /** The longest wait before a failed watch or listing is tried again. */
    static final long RESUME_MAX_MS = 2_000;

    /** Where the watched keys go; called from one thread at a time. */
    public interface Sink {
        /** The whole prefix at {@code revision}: first the initial listing, then after every compaction. */
        void reset(Map<String, byte[]> listing, long revision);

        /** Changes observed up to {@code revision}. */
        void apply(List<KvEvent> events, long revision);
    }

    /** What a watch counts, named by its owner: {@code portolan_etcd_*} for the registry, {@code portolan_import_*} for an import. */
    record Meters(Counter restarts, Counter silences, Counter compactions, Counter listings) {
        static Meters of(MeterRegistry registry, String namePrefix, String what, Tags tags) {
            return new Meters(
                    Counter.builder(namePrefix + "watch_restarts").description(what + " watches resumed after a failure or a close")
                            .tags(tags).register(registry),
                    Counter.builder(namePrefix + "watch_silences").description(what + " watches moved to another member after "
                            + SILENCE_MS + " ms without an answer").tags(tags).register(registry),
                    Counter.builder(namePrefix + "compactions").description(what + " watches that hit a compacted revision")
                            .tags(tags).register(registry),
                    Counter.builder(namePrefix + "listings").description("full listings of " + what + " prefixes")
                            .tags(tags).register(registry));
        }
    }

    private final EtcdRegistry registry;
    private final Members members;
    private final String name;
    private final String prefix;
    private final Sink sink;
    private final Meters meters;
    private final CircuitBreaker breaker;
    private final ScheduledExecutorService scheduler;
    private final IntervalFunction backoff = IntervalFunction.ofExponentialRandomBackoff(200, 2.0, 0.3, RESUME_MAX_MS);
    /** Bumped on every (re)subscription, so that callbacks of an abandoned watcher are ignored. */
    private final AtomicInteger generation = new AtomicInteger();

    // on this watch's thread only
    private int failures;
    private Members.Member member;
    private boolean watching;
    private long heardAt;
    private long silenceMs = SILENCE_MS;
    /** Set when the watch had to resume; the first answer after that is logged. */
    private boolean resuming;

    private volatile Watch.Watcher watcher;
    /** The last listing succeeded and the watch has not failed nor fallen silent since. */
    private volatile boolean connected;
    private volatile long lastRevision;
    private volatile boolean closed;

    PrefixWatch(EtcdRegistry registry, Members members, String name, String prefix, Sink sink, Meters meters,
                CircuitBreaker breaker) {
        if (prefix == null || prefix.isEmpty()) {
            throw new IllegalArgumentException("an empty prefix would watch all of etcd");
        }
        this.registry = registry;
        this.members = members;
        this.name = name;
        this.prefix = prefix;
        this.sink = sink;
        this.meters = meters;
        this.breaker = breaker;
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "watch-" + name);
            t.setDaemon(true);
            return t;
        });
    }

    public String prefix() {
        return prefix;
    }

    void start() {
        scheduler.execute(this::relist);
        scheduler.scheduleWithFixedDelay(() -> {
            try {
                tick();
            } catch (RuntimeException e) { // a periodic task that throws is never run again
                log.warn("{}: checking the watch of {} failed: {}", name, prefix, e.toString());
            }
        }, TICK_MS, TICK_MS, TimeUnit.MILLISECONDS);
    }

    private void relist() {
        if (closed) {
            return;
        }
        watching = false;
        try {
            long rev = breaker.executeCallable(this::list);
            lastRevision = rev;
            failures = 0;
            connected = true;
            subscribe(rev + 1);
        } catch (Exception e) {
            connected = false;
            long wait = backoff.apply(Math.min(++failures, 20));
            if (failures == 1 || failures % 10 == 0) { // an outage: the first failure and every tenth
                log.warn("{}: listing {} failed ({}); keeping what it holds, retrying in {} ms (failure {} in a row)", name, prefix,
                        e.toString(), wait, failures);
            } else {
                log.debug("{}: listing {} failed ({}); retrying in {} ms (failure {} in a row)", name, prefix, e.toString(), wait, failures);
            }
            schedule(this::relist, wait);
        }
    }

    /**
     * The whole prefix at one revision, in pages of {@value #PAGE} keys (a single range over 100k
     * keys would exceed gRPC's message limit): the first page fixes the revision, the others read
     * at that same revision, so the listing is one consistent cut. Handed to the sink.
     */
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
            ByteSequence key = from;
            GetResponse r = registry.call(c -> c.getKVClient().get(key, opt.build()), "list " + prefix);
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
            from = ByteSequence.from(Arrays.copyOf(k, k.length + 1)); // the smallest key after `last`
        }
        meters.listings().increment();
        sink.reset(values, revision);
        return revision;
    }

    private void subscribe(long fromRevision) {
        if (closed) {
            return;
        }
        int gen = generation.incrementAndGet();
        closeWatcher();
        WatchOption option = WatchOption.builder()
                .isPrefix(true)
                .withRevision(fromRevision)
                .withPrevKV(true)
                .withProgressNotify(true)
                .withCreateNotify(true)
                .withRequireLeader(true)
                .build();
        try {
            member = members.current();
            watcher = member.client().getWatchClient().watch(EtcdRegistry.bytes(prefix), option, Watch.listener(
                    r -> later(() -> onWatch(gen, r)),
                    t -> later(() -> onError(gen, t)),
                    () -> later(() -> onClosed(gen))));
        } catch (RuntimeException e) {
            // the member's client was closed meanwhile (another watch left it), or this registry is closing
            if (closed) {
                return;
            }
            generation.incrementAndGet();
            long wait = backoff.apply(Math.min(++failures, 20));
            log.warn("{}: could not watch {} through {} ({}); trying again in {} ms", name, prefix, member, e.toString(), wait);
            schedule(() -> subscribe(lastRevision + 1), wait);
            return;
        }
        watching = true;
        heardAt = System.nanoTime();
        log.debug("{}: watching {} through {} from revision {}", name, prefix, member, fromRevision);
    }

    /**
     * Every {@value #TICK_MS} ms: nothing while the member answers something (the lease keep-alives);
     * a progress request when it has been quiet {@value #PROBE_AFTER_MS} ms; a move off a silent one.
     */
    private void tick() {
        if (closed || !watching) {
            return;
        }
        long throughMember = member.heardAt();
        long last = throughMember - heardAt > 0 ? throughMember : heardAt;
        long quiet = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - last);
        if (quiet < silenceMs) {
            if (quiet >= PROBE_AFTER_MS - 100) {
                Watch.Watcher w = watcher;
                if (w != null) {
                    try {
                        w.requestProgress();
                    } catch (RuntimeException e) {
                        log.debug("{}: progress request on {} failed: {}", name, member, e.toString());
                    }
                }
            }
            return;
        }
        meters.silences().increment();
        connected = false;
        watching = false;
        resuming = true;
        generation.incrementAndGet();
        closeWatcher();
        Members.Member silent = member;
        long bound = silenceMs;
        silenceMs = Math.min(silenceMs * 2, SILENCE_MAX_MS);
        Members.Member next = failOver(silent, "silent for " + quiet + " ms");
        log.warn("{}: watch of {} on {} silent for {} ms (no event, no answer through the member; bound {} ms); resuming on {}"
                + " from revision {}", name, prefix, silent, quiet, bound, next, lastRevision + 1);
        subscribe(lastRevision + 1);
    }

    // The callbacks run on this watch's own thread (see later()).

    private void onWatch(int gen, WatchResponse r) {
        if (gen != generation.get() || closed) {
            return;
        }
        heardAt = System.nanoTime();
        member.heard();
        silenceMs = SILENCE_MS;
        failures = 0;
        connected = true;
        if (resuming) {
            resuming = false;
            log.info("{}: watch of {} on {} answers again (resumed from revision {})", name, prefix, member, lastRevision + 1);
        }
        List<WatchEvent> events = r.getEvents();
        if (events.isEmpty()) {
            return; // created, or progress: the stream is alive (and only that: see the class comment)
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
        // A response's header revision may run ahead of its events when the response is one fragment
        // of a larger batch: only the events' own revision is known to be complete.
        lastRevision = Math.max(maxMod, lastRevision);
        sink.apply(batch, lastRevision);
    }

    private void onError(int gen, Throwable t) {
        if (gen != generation.get() || closed) {
            return;
        }
        watching = false;
        generation.incrementAndGet();
        closeWatcher(); // before jetcd resumes it on its own, from a revision of its own
        Throwable cause = t;
        while (cause != null && !(cause instanceof CompactedException)) {
            cause = cause.getCause();
        }
        if (cause != null) {
            meters.compactions().increment();
            connected = false;
            int nodes = registry.fleetSize();
            int rank = registry.fleetRank();
            long wait = relistDelay(nodes, rank, java.util.concurrent.ThreadLocalRandom.current().nextDouble(), System.currentTimeMillis());
            log.warn("{}: watch of {} fell behind a compaction (last seen revision {}); re-listing and diffing in {} ms"
                    + " (turn {} of the fleet's {} nodes)", name, prefix, lastRevision, wait, rank < 0 ? "drawn at random" : rank, nodes);
            schedule(this::relist, wait);
            return;
        }
        meters.restarts().increment();
        connected = false;
        resuming = true;
        long wait = backoff.apply(Math.min(++failures, 20));
        Members.Member failed = member;
        String said = String.valueOf(t.getMessage());
        // "etcdserver: no leader" (require-leader) is etcd's answer: the member is kept while it answers anything else
        Members.Member next = EtcdRegistry.answeredByEtcd(said) ? suspect(failed, said) : failOver(failed, said);
        if (failures == 1 || failures % 10 == 0) { // an outage: the first failure and every tenth
            log.warn("{}: watch of {} on {} failed ({}); resuming on {} from revision {} in {} ms (failure {} in a row)", name, prefix,
                    failed, t.toString(), next, lastRevision + 1, wait, failures);
        } else {
            log.debug("{}: watch of {} on {} failed ({}); resuming on {} from revision {} in {} ms (failure {} in a row)", name, prefix,
                    failed, t.toString(), next, lastRevision + 1, wait, failures);
        }
        schedule(() -> subscribe(lastRevision + 1), wait);
    }

    private void onClosed(int gen) {
        if (gen != generation.get() || closed) {
            return;
        }
        // the member's client was closed under it (another watch left that member)
        meters.restarts().increment();
        watching = false;
        resuming = true;
        generation.incrementAndGet();
        log.info("{}: watch of {} on {} closed by the client; resuming from revision {}", name, prefix, member, lastRevision + 1);
        schedule(() -> subscribe(lastRevision + 1), 100);
    }

    /**
     * How long a watch that fell behind a compaction waits before it re-lists: its turn, on the wall
     * clock the fleet shares. The fleet's {@code nodes} take {@code k} turns a second, k = 1 % of the
     * fleet (at least 1), {@code 1/k} s apart, over a window of {@code nodes/k} seconds that repeats
     * from the epoch; the agent at {@code rank} in the nodes' name order takes turn {@code rank}, at
     * its next occurrence after {@code nowMillis}. Agents cut off past a compaction come back together
     * (a partition heals) and notice it at different moments; their listings still reach etcd at
     * most 1 % of the fleet (at least one) in any second, however many come back and whenever each
     * noticed, and no agent asks the others: each works out the same order from the nodes it lists,
     * and hosts' clocks agree well within a turn. The wait is below the window: {@code nodes} seconds
     * under 200 nodes, 100-150 s above. An agent that does not know its rank ({@code rank} < 0: not
     * listed yet, or a registry that announces no node) waits {@code random} (in [0, 1)) times the
     * window. The agent serves what it holds meanwhile.
     */
    static long relistDelay(int nodes, int rank, double random, long nowMillis) {
        if (random < 0 || random >= 1) {
            throw new IllegalArgumentException("random must be in [0, 1): " + random);
        }
        if (nodes <= 0) {
            return 0;
        }
        int perSecond = Math.max(1, nodes / 100);
        long window = nodes * 1000L / perSecond;
        if (rank < 0 || rank >= nodes) {
            return (long) (random * window);
        }
        long turn = rank * 1000L / perSecond;
        return Math.floorMod(turn - nowMillis, window);
    }

    private Members.Member suspect(Members.Member from, String why) {
        try {
            return from == null ? members.current() : members.suspect(from, why);
        } catch (IllegalStateException closing) {
            return from;
        }
    }

    private Members.Member failOver(Members.Member from, String why) {
        try {
            return from == null ? members.current() : members.failed(from, why);
        } catch (IllegalStateException closing) {
            return from;
        }
    }

    private void closeWatcher() {
        Watch.Watcher w = watcher;
        watcher = null;
        if (w != null) {
            try {
                w.close();
            } catch (RuntimeException e) {
                log.debug("{}: closing a watcher: {}", name, e.toString());
            }
        }
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

    /** Whether the last listing succeeded and the watch has neither failed nor fallen silent since (the status page). */
    public boolean connected() {
        return connected && !closed;
    }

    /** The resume point: the last revision whose events the sink was given (for tests and diagnostics). */
    public long revision() {
        return lastRevision;
    }

    @Override
    public void close() {
        closed = true;
        generation.incrementAndGet();
        scheduler.shutdownNow();
        closeWatcher();
    }

    @Override
    public String toString() {
        return name + " watch of " + prefix;
    }
}
