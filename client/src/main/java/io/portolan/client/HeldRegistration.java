package io.portolan.client;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

import static io.portolan.client.AgentHttp.LOG;

/**
 * A registration held through the agent's HTTP API, as the CLI's {@code register} holds one:
 * heartbeats every TTL/3 (at least 500 ms apart); a 404 (the agent does not know the instance: it
 * restarted without its state, or the lease ran out) registers it again with the same body and id;
 * a heartbeat that does not get through is tried again sooner (250 ms, doubling up to the period).
 * Heartbeats and the deregistration never overlap (one lock), so a heartbeat in flight cannot
 * register again an instance just removed.
 */
final class HeldRegistration implements Registration {
    /** How long the shutdown hook tries to deregister before it falls back to waiting for the TTL. */
    static final Duration HOOK_RETRY = Duration.ofSeconds(5);

    private final AgentHttp http;
    private final Duration retryFor;
    private final ScheduledExecutorService timer;
    private final Consumer<Thread> hooks;
    private final String service;
    private final String id;
    private final String body;
    private final int ttlSeconds;
    private final long periodMillis;
    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicBoolean deregistered = new AtomicBoolean();
    private final AtomicBoolean hookInstalled = new AtomicBoolean();
    private final List<Runnable> actions = new CopyOnWriteArrayList<>();
    private volatile String vip;
    private volatile Duration drain = Duration.ZERO;
    /** When the agent last confirmed the instance (registration or heartbeat), System.nanoTime(). */
    private volatile long aliveNanos;
    private int failures; // under lock
    private ScheduledFuture<?> next; // under lock

    /** {@code hooks} installs the shutdown hook: {@code Runtime.getRuntime()::addShutdownHook}, or a test's list. */
    HeldRegistration(AgentHttp http, Duration retryFor, ScheduledExecutorService timer, Consumer<Thread> hooks, String service, String id,
                     String body, int ttlSeconds, String vip) {
        this.http = http;
        this.retryFor = retryFor;
        this.timer = timer;
        this.hooks = hooks;
        this.service = service;
        this.id = id;
        this.body = body;
        this.ttlSeconds = ttlSeconds;
        this.periodMillis = Math.max(500, ttlSeconds * 1000L / 3);
        this.vip = vip;
        this.aliveNanos = System.nanoTime();
    }

    void start() {
        lock.lock();
        try {
            next = timer.schedule(this::beat, periodMillis, TimeUnit.MILLISECONDS);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String service() {
        return service;
    }

    @Override
    public String id() {
        return id;
    }

    @Override
    public Optional<String> vip() {
        return Optional.ofNullable(vip);
    }

    private String ref() {
        return service + "/" + id;
    }

    private String path() {
        return "/v1/instances/" + service + "/" + id; // both checked: only [A-Za-z0-9._-]
    }

    long periodMillis() {
        return periodMillis;
    }

    /** One heartbeat, then the next one scheduled: after the period, or sooner after a failure. */
    void beat() {
        lock.lock();
        try {
            if (deregistered.get()) {
                return;
            }
            long delay = periodMillis;
            Duration timeout = Duration.ofMillis(periodMillis);
            try {
                AgentHttp.Reply r = http.send("PUT", path() + "/heartbeat", null, timeout);
                if (r.status() == 200) {
                    alive();
                } else if (r.status() == 404) {
                    LOG.log(Level.INFO, "the agent at {0} does not know {1} (restarted, or the lease ran out); registering it again",
                            http.base(), ref());
                    AgentHttp.Reply again = http.send("POST", "/v1/instances", body, timeout);
                    if (again.status() == 201) {
                        alive();
                        vip = Json.string(again.json("register " + ref() + " again"), "vip");
                        LOG.log(Level.INFO, "registered {0} again", ref());
                    } else {
                        delay = failed("registering it again: " + again.status() + " " + again.error());
                    }
                } else {
                    delay = failed(r.status() + " " + r.error());
                }
            } catch (IOException e) {
                delay = failed(AgentHttp.describe(e));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException e) {
                delay = failed(e.toString());
            }
            next = timer.schedule(this::beat, delay, TimeUnit.MILLISECONDS);
        } finally {
            lock.unlock();
        }
    }

    private void alive() {
        aliveNanos = System.nanoTime();
        failures = 0;
    }

    private long failed(String problem) {
        failures++;
        long left = (aliveNanos + TimeUnit.SECONDS.toNanos(ttlSeconds) - System.nanoTime()) / 1_000_000;
        LOG.log(Level.WARNING, "heartbeat for {0} to {1} failed ({2}); {3}", ref(), http.base(), problem,
                left > 0 ? "the instance expires in " + left + " ms unless one gets through" : "the instance has expired; trying to register it again");
        return Math.min(periodMillis, 250L << Math.min(failures - 1, 10));
    }

    @Override
    public void deregister() {
        deregister(retryFor);
    }

    private void deregister(Duration retry) {
        if (!deregistered.compareAndSet(false, true)) {
            return;
        }
        lock.lock(); // after any heartbeat in flight
        try {
            if (next != null) {
                next.cancel(false);
            }
            AgentHttp.Reply r = http.call("deregister " + ref(), "DELETE", path(), null, retry);
            if (r.status() != 200 && r.status() != 404) {
                throw http.refused("deregister " + ref(), r);
            }
            LOG.log(Level.INFO, "deregistered {0}", ref());
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        try {
            deregister();
        } catch (PortolanException e) {
            LOG.log(Level.WARNING, "{0}; it expires with its TTL ({1} s)", e.getMessage(), String.valueOf(ttlSeconds));
        }
    }

    @Override
    public Registration deregisterOnShutdown(Duration drain) {
        this.drain = Check.drain(drain);
        installHook();
        return this;
    }

    @Override
    public Registration onShutdown(Runnable action) {
        if (action == null) {
            throw Check.bad("shutdown action", null, "a Runnable is required, e.g. () -> server.stop(1)");
        }
        actions.add(action);
        installHook();
        return this;
    }

    private void installHook() {
        if (hookInstalled.compareAndSet(false, true)) {
            hooks.accept(new Thread(this::shutdown, "portolan-shutdown-" + service));
        }
    }

    /** The shutdown hook: deregister, drain, then the application's actions. */
    void shutdown() {
        if (!deregistered.get()) {
            Duration d = drain;
            try {
                deregister(retryFor.compareTo(HOOK_RETRY) < 0 ? retryFor : HOOK_RETRY);
                if (!d.isZero()) {
                    LOG.log(Level.INFO, "draining {0} for {1} ms before the application stops", ref(), String.valueOf(d.toMillis()));
                }
            } catch (PortolanException e) {
                long expiry = Math.max(0, (aliveNanos + TimeUnit.SECONDS.toNanos(ttlSeconds) - System.nanoTime()) / 1_000_000);
                LOG.log(Level.WARNING, "{0}; waiting {1} ms for it to expire, then {2} ms of drain", e.getMessage(), String.valueOf(expiry), String.valueOf(d.toMillis()));
                sleep(expiry);
            }
            sleep(d.toMillis());
        }
        for (Runnable action : actions) {
            try {
                action.run();
            } catch (Throwable t) {
                LOG.log(Level.ERROR, "a shutdown action of " + ref() + " failed", t);
            }
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return ref() + (vip == null ? "" : " (vip " + vip + ")");
    }
}
