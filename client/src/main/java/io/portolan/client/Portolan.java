package io.portolan.client;

import java.lang.System.Logger.Level;
import java.net.URI;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.function.Consumer;

/**
 * The local portolan agent, as a Java application's start-up hook talks to it.
 *
 * <pre>{@code
 * Registration web = Portolan.agent()                  // $PORTOLAN_AGENT, else http://127.0.0.1:9190
 *         .register(Service.named("web").port("http", 8080));
 * web.deregisterOnShutdown(Duration.ofSeconds(2))      // SIGTERM: deregister, drain 2 s,
 *    .onShutdown(() -> server.stop(1));                // then stop the server
 * }</pre>
 *
 * <p>Calls retry while the agent cannot be reached or answers 503 (its store is away), waiting
 * 100 ms doubling up to 2 s between attempts, for {@linkplain #retryFor 30 s} by default; anything
 * else the agent refuses throws {@link PortolanException} at once. Each registration is then kept
 * alive by heartbeats every third of its TTL, from one daemon thread per {@code Portolan}; when the
 * agent no longer knows it (it restarted with its state lost), the heartbeat registers it again
 * with the same id. Logs go to {@link System.Logger} {@code io.portolan.client}. Thread-safe.
 */
public final class Portolan {
    /** Where the agent is when {@code PORTOLAN_AGENT} is not set: its default {@code --admin-listen}. */
    public static final URI DEFAULT_AGENT = URI.create("http://127.0.0.1:9190");
    /** The environment variable naming the agent's URL, e.g. {@code http://172.17.0.1:9191} in a container. */
    public static final String AGENT_ENV = "PORTOLAN_AGENT";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final AgentHttp http;
    private final Duration retryFor;
    private final Consumer<Thread> hooks;
    private ScheduledExecutorService heartbeats; // made with the first registration

    private Portolan(URI agent, Duration retryFor) {
        this(agent, retryFor, Runtime.getRuntime()::addShutdownHook);
    }

    /** With {@code hooks} installing the shutdown hooks instead of the JVM (tests). */
    Portolan(URI agent, Duration retryFor, Consumer<Thread> hooks) {
        this.http = new AgentHttp(agent);
        this.retryFor = retryFor;
        this.hooks = hooks;
    }

    /**
     * The agent at {@code $PORTOLAN_AGENT} (e.g. its {@code --register-listen} on the container
     * bridge, {@code http://172.17.0.1:9191}), else at {@code http://127.0.0.1:9190}.
     *
     * @throws IllegalArgumentException if {@code PORTOLAN_AGENT} is set to something that is not an agent URL
     */
    public static Portolan agent() {
        String env = System.getenv(AGENT_ENV);
        return env == null || env.isBlank() ? agent(DEFAULT_AGENT) : new Portolan(Check.agent(AGENT_ENV, env.strip()), Duration.ofSeconds(30));
    }

    /**
     * The agent at {@code agent}: {@code http://HOST:PORT}, its {@code --admin-listen} or one of its
     * {@code --register-listen} addresses.
     *
     * @throws IllegalArgumentException if {@code agent} is not such a URL
     */
    public static Portolan agent(URI agent) {
        return new Portolan(Check.agent("agent URL", agent), Duration.ofSeconds(30));
    }

    /**
     * The same agent, retrying {@link #register} and {@link Registration#deregister} for
     * {@code retryFor} (zero: one attempt) while it cannot be reached or answers 503.
     */
    public Portolan retryFor(Duration retryFor) {
        if (retryFor == null || retryFor.isNegative()) {
            throw Check.bad("retryFor", retryFor, "zero or more");
        }
        return new Portolan(http.base(), retryFor, hooks);
    }

    /** The agent's URL. */
    public URI uri() {
        return http.base();
    }

    /**
     * Registers one instance of {@code service} and keeps it alive with heartbeats until
     * {@link Registration#deregister()} (or the JVM's end: see
     * {@link Registration#deregisterOnShutdown}). Registering an id that exists replaces it.
     *
     * @throws IllegalArgumentException if {@code service} has no port
     * @throws PortolanException if the agent refused (the message carries its reason) or could not
     *         be reached within the retry time
     */
    public Registration register(Service service) {
        if (service == null) {
            throw Check.bad("service", null, "a Service is required: Service.named(\"web\").port(\"http\", 8080)");
        }
        service.checkComplete();
        String id = service.id() != null ? service.id() : newId(service.name());
        String what = "register " + service.name() + "/" + id;
        String body = service.json(id);
        AgentHttp.Reply r = http.call(what, "POST", "/v1/instances", body, retryFor);
        if (r.status() != 201) {
            throw http.refused(what, r);
        }
        Map<String, Object> reply = r.json(what);
        if (!id.equals(reply.get("id"))) {
            throw new PortolanException(r.status(), what + ": the agent at " + http.base() + " answered another id: " + r.body(), null);
        }
        HeldRegistration h = new HeldRegistration(http, retryFor, heartbeats(), hooks, service.name(), id, body, service.ttlSeconds(),
                Json.string(reply, "vip"));
        AgentHttp.LOG.log(Level.INFO, "registered {0}/{1}{2} through {3}", service.name(), id,
                h.vip().map(v -> " (vip " + v + ")").orElse(""), http.base());
        h.start();
        return h;
    }

    private synchronized ScheduledExecutorService heartbeats() {
        if (heartbeats == null) {
            ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
                Thread th = new Thread(r, "portolan-heartbeat");
                th.setDaemon(true);
                return th;
            });
            t.setRemoveOnCancelPolicy(true);
            heartbeats = t;
        }
        return heartbeats;
    }

    /** As the agent makes them: {@code SERVICE-} and 10 random hex digits. Made here, so a retried POST cannot register twice. */
    static String newId(String service) {
        byte[] b = new byte[5];
        RANDOM.nextBytes(b);
        StringBuilder s = new StringBuilder(service.length() + 11).append(service).append('-');
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }

    @Override
    public String toString() {
        return "Portolan[" + http.base() + "]";
    }
}
