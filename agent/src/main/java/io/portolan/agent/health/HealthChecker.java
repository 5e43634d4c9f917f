package io.portolan.agent.health;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.portolan.agent.registry.Registry;
import io.portolan.proto.Check;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Runs the checks of the instances registered on this node (their {@code node} is this agent's),
 * so that N agents never probe the same instance N times. Each instance's check runs every
 * interval on a bounded pool (at most {@code maxInFlight} at once; a round that finds none free is
 * skipped and counted), its first run jittered across the interval. After {@code fall} failures
 * in a row (not counting the start period) the instance turns unhealthy, after {@code rise}
 * successes healthy again; the outcome is written to the registry only when it differs from the
 * stored instance's health, with the failure's reason. An instance whose node is gone keeps its
 * last health: its lease decides. {@link #update} is called with every snapshot and only
 * (re)schedules: it never waits for a probe.
 */
public final class HealthChecker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HealthChecker.class);

    private final String node;
    private final Registry registry;
    private final ScheduledExecutorService scheduler;
    private final ExecutorService workers;
    private final Semaphore inFlight;
    private final Probes.Grpc grpc = new Probes.Grpc();
    private final Counter ok;
    private final Counter failed;
    private final Counter skipped;
    private final Timer duration;
    /** Checked instances by service/id; touched on the publishing thread (update) and the workers (results). */
    private final Map<String, Target> targets = new HashMap<>();
    private final Set<String> panicking = new HashSet<>();
    private ClusterSnapshot last;
    private volatile boolean closed;

    /** One checked instance. Its fields are guarded by the checker. */
    private static final class Target {
        final String key;
        Instance instance;
        Check check;
        InetSocketAddress address;
        Health verdict;
        int successes;
        int failures;
        ScheduledFuture<?> next;

        Target(String key) {
            this.key = key;
        }
    }

    public HealthChecker(String node, Registry registry, MeterRegistry meters, int maxInFlight) {
        this.node = node;
        this.registry = registry;
        this.inFlight = new Semaphore(maxInFlight);
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "health-schedule"));
        this.workers = Executors.newFixedThreadPool(maxInFlight, r -> daemon(r, "health-check"));
        this.ok = Counter.builder("portolan_health_checks").tag("result", "ok").register(meters);
        this.failed = Counter.builder("portolan_health_checks").tag("result", "failed").register(meters);
        this.skipped = Counter.builder("portolan_health_checks").tag("result", "skipped")
                .description("rounds skipped because every check slot was busy").register(meters);
        this.duration = Timer.builder("portolan_health_check_duration").publishPercentiles(0.5, 0.99).register(meters);
        Gauge.builder("portolan_health_checked_instances", this, c -> c.size()).register(meters);
        Gauge.builder("portolan_services_panicking", this, c -> c.panickingCount())
                .description("services whose instances are all unhealthy, so all are served").register(meters);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private synchronized int size() {
        return targets.size();
    }

    private synchronized int panickingCount() {
        return panicking.size();
    }

    /** Follows the snapshot: starts, changes and stops checks of this node's instances. */
    public synchronized void update(ClusterSnapshot s) {
        if (closed) {
            return;
        }
        Set<String> changed = last == null ? null : s.changedSince(last);
        Iterable<String> services = changed == null ? union(s.instancesByService().keySet(), last) : changed;
        for (String service : services) {
            Set<String> seen = new HashSet<>();
            for (Instance i : s.instances(service)) {
                if (i.check() != null && i.node().equals(node)) {
                    String key = service + "/" + i.id();
                    seen.add(key);
                    track(key, i);
                }
            }
            for (Iterator<Map.Entry<String, Target>> it = targets.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, Target> e = it.next();
                if (e.getKey().startsWith(service + "/") && !seen.contains(e.getKey())) {
                    stop(e.getValue());
                    it.remove();
                }
            }
            boolean panic = s.panicking(service);
            if (panic && panicking.add(service)) {
                log.warn("service {}: every instance is unhealthy; serving all {} of them (panic threshold)", service,
                        s.servingInstances(service).size());
            } else if (!panic && panicking.remove(service)) {
                log.info("service {}: healthy instances again; the unhealthy ones are left out", service);
            }
        }
        last = s;
    }

    private static Iterable<String> union(Set<String> now, ClusterSnapshot previous) {
        if (previous == null) {
            return now;
        }
        Set<String> all = new HashSet<>(now);
        all.addAll(previous.instancesByService().keySet());
        return all;
    }

    private void track(String key, Instance i) {
        Target t = targets.get(key);
        if (t != null && t.instance == i) {
            return;
        }
        InetSocketAddress address = address(i);
        if (t == null) {
            if (address == null) {
                log.warn("instance {}: its {} check has no TCP port to probe; not checked", key, i.check().spec());
                return;
            }
            t = new Target(key);
            t.verdict = i.health();
            targets.put(key, t);
            t.instance = i;
            t.check = i.check();
            t.address = address;
            long jitter = ThreadLocalRandom.current().nextLong(Math.max(1, i.check().interval().toMillis()));
            schedule(t, jitter);
            return;
        }
        t.instance = i;
        if (!i.check().equals(t.check) || !t.address.equals(address)) {
            t.check = i.check();
            t.address = address;
            t.successes = 0;
            t.failures = 0;
        }
    }

    /** The first TCP port of the instance, on its address. */
    private static InetSocketAddress address(Instance i) {
        for (Port p : i.ports()) {
            if (p.protocol() == Protocol.TCP) {
                return new InetSocketAddress(i.address(), p.number());
            }
        }
        return null;
    }

    private void stop(Target t) {
        if (t.next != null) {
            t.next.cancel(false);
        }
        if (t.check.kind() == Check.Kind.GRPC) {
            grpc.forget(t.address);
        }
    }

    private void schedule(Target t, long delayMs) {
        if (closed) {
            return;
        }
        t.next = scheduler.schedule(() -> dispatch(t), delayMs, TimeUnit.MILLISECONDS);
    }

    private void dispatch(Target t) {
        Check check;
        InetSocketAddress address;
        synchronized (this) {
            if (closed || targets.get(t.key) != t) {
                return;
            }
            check = t.check;
            address = t.address;
        }
        if (!inFlight.tryAcquire()) {
            skipped.increment();
            synchronized (this) {
                schedule(t, check.interval().toMillis());
            }
            return;
        }
        try {
            workers.execute(() -> {
                long t0 = System.nanoTime();
                try {
                    String why = Probes.probe(check, address, grpc);
                    duration.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
                    result(t, check, why);
                } catch (RuntimeException e) {
                    log.warn("instance {}: check failed to run: {}", t.key, e.toString());
                } finally {
                    inFlight.release();
                    long spent = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                    synchronized (this) {
                        if (targets.get(t.key) == t) {
                            schedule(t, Math.max(0, check.interval().toMillis() - spent));
                        }
                    }
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            inFlight.release();
        }
    }

    private void result(Target t, Check check, String why) {
        Instance write = null;
        Health verdict;
        synchronized (this) {
            if (targets.get(t.key) != t || !check.equals(t.check)) {
                return;
            }
            if (why == null) {
                ok.increment();
                t.failures = 0;
                t.successes++;
                if (t.verdict == Health.UNHEALTHY && t.successes >= check.rise()) {
                    t.verdict = Health.HEALTHY;
                    log.info("instance {} is healthy again ({} check passed {} time(s))", t.key, check.spec(), t.successes);
                }
            } else {
                failed.increment();
                t.successes = 0;
                boolean starting = Instant.now().isBefore(t.instance.registeredAt().plus(check.startPeriod()));
                if (!starting) {
                    t.failures++;
                }
                if (t.verdict == Health.HEALTHY && t.failures >= check.fall()) {
                    t.verdict = Health.UNHEALTHY;
                    log.warn("instance {} is unhealthy: {} ({} failure(s) in a row)", t.key, why, t.failures);
                }
            }
            verdict = t.verdict;
            if (verdict != t.instance.health()) {
                write = t.instance;
            }
        }
        if (write != null) {
            try {
                registry.setHealth(write.service(), write.id(), verdict, why);
            } catch (RuntimeException e) {
                log.warn("instance {}: cannot store its health ({}); trying again after the next check", t.key, e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            targets.values().forEach(this::stop);
            targets.clear();
        }
        scheduler.shutdownNow();
        workers.shutdownNow();
        grpc.close();
    }
}
