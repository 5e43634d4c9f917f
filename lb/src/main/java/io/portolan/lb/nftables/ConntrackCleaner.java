package io.portolan.lb.nftables;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.lb.host.Exec;
import io.portolan.proto.Protocol;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Forgets the kernel's connection-tracking entries that would keep sending packets to backends a sync removed
 * ({@link StaleFlows}), with {@code conntrack -D} (argv only), on a thread of its own after the transaction
 * committed, so a sync never waits for it and its failure never fails a sync (logged, counted in
 * {@code portolan.lb.nftables.conntrack.failures}).
 *
 * <ul>
 *   <li>TCP: only entries still in {@code SYN_SENT} (a SYN the backend never answered). A later connection that
 *   reuses such an entry's source port would match it and follow its old DNAT to the removed backend, for the
 *   entry's 120 s, instead of being scheduled again. Established connections are left alone: they drain.</li>
 *   <li>UDP: every entry. A UDP flow is only ever refreshed by its packets, so a client that keeps sending would
 *   never leave a removed backend (kube-proxy and the ipvs plane clear them the same way).</li>
 * </ul>
 */
final class ConntrackCleaner implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ConntrackCleaner.class);
    static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern DELETED = Pattern.compile("(\\d+) flow entries have been deleted");

    private final Exec exec;
    private final boolean installed;
    private final ExecutorService thread;
    private final Counter deleted;
    private final Counter failures;
    private final AtomicBoolean warnedMissing = new AtomicBoolean();

    ConntrackCleaner(Exec exec, boolean installed, MeterRegistry meters) {
        this.exec = exec;
        this.installed = installed;
        this.deleted = Counter.builder("portolan.lb.nftables.conntrack.deleted")
                .description("conntrack entries of removed backends deleted").register(meters);
        this.failures = Counter.builder("portolan.lb.nftables.conntrack.failures")
                .description("conntrack deletions for removed backends that failed").register(meters);
        // one thread, batches in order; a queue that cannot grow without bound (a batch past it is dropped, counted, logged)
        this.thread = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(1_000), r -> {
            Thread t = new Thread(r, "nftables-conntrack");
            t.setDaemon(true);
            return t;
        }, (r, pool) -> {
            failures.increment();
            if (!pool.isShutdown()) {
                log.warn("nftables: 1,000 conntrack batches queued already; this one is dropped");
            }
        });
    }

    /** Queues the deletions for {@code flows}; returns at once. */
    void clear(Set<StaleFlows.Flow> flows) {
        if (flows.isEmpty()) {
            return;
        }
        if (!installed) {
            failures.increment(flows.size());
            if (warnedMissing.compareAndSet(false, true)) {
                log.warn("nftables: conntrack is not on PATH (Debian package conntrack): connection-tracking entries of removed "
                        + "backends are not deleted, so a UDP flow, or a new TCP connection reusing a source port, may keep "
                        + "reaching a removed backend until its entry times out");
            }
            return;
        }
        List<StaleFlows.Flow> batch = List.copyOf(flows);
        thread.execute(() -> run(batch));
    }

    private void run(List<StaleFlows.Flow> batch) {
        long n = 0;
        for (StaleFlows.Flow flow : batch) {
            List<String> argv = argv(flow);
            try {
                Exec.Result r = exec.run(argv, null, TIMEOUT);
                Matcher m = DELETED.matcher(r.err() + r.out());
                // exit 1 with "0 flow entries have been deleted" is the usual case: nothing to clear
                if (m.find()) {
                    n += Long.parseLong(m.group(1));
                } else if (r.code() != 0) {
                    failures.increment();
                    log.warn("nftables: {} failed (exit {}): {}", String.join(" ", argv), r.code(), r.errOrOut());
                }
            } catch (IOException | RuntimeException e) {
                failures.increment();
                log.warn("nftables: cannot delete the conntrack entries of {}: {}", flow, e.getMessage());
            }
        }
        deleted.increment(n);
        if (n > 0) {
            log.info("nftables: deleted {} conntrack entries of {} removed backend(s)", n, batch.size());
        }
    }

    /** {@code conntrack -D} for one flow: its protocol (TCP: SYN_SENT only), frontend and backend; values all parsed. */
    static List<String> argv(StaleFlows.Flow flow) {
        List<String> argv = new ArrayList<>(List.of("conntrack", "-D", "-p", flow.protocol().lower()));
        if (flow.protocol() == Protocol.TCP) {
            argv.addAll(List.of("--state", "SYN_SENT"));
        }
        if (flow.frontend() != null) {
            argv.addAll(List.of("--orig-dst", flow.frontend().getHostAddress()));
        }
        argv.addAll(List.of("--orig-port-dst", Integer.toString(flow.frontendPort()), "--reply-src", flow.backend().getHostAddress(),
                "--reply-port-src", Integer.toString(flow.backendPort())));
        return argv;
    }

    /** Waits until what was queued so far has run (tests); false if that took longer than {@code bound}. */
    boolean awaitIdle(Duration bound) {
        try {
            thread.submit(() -> { }).get(bound.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (Exception e) {
            return false;
        }
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
