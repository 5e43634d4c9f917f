package io.portolan.client;

import java.lang.System.Logger.Level;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
    /** The environment variable naming a file that holds the agent's admin token (see {@link #token}). */
    public static final String TOKEN_FILE_ENV = "PORTOLAN_AGENT_TOKEN_FILE";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final AgentHttp http;
    private final Duration retryFor;
    private final Consumer<Thread> hooks;
    private ScheduledExecutorService heartbeats; // made with the first registration

    private Portolan(URI agent, Duration retryFor, String token) {
        this(agent, retryFor, Runtime.getRuntime()::addShutdownHook, token);
    }

    /** With {@code hooks} installing the shutdown hooks instead of the JVM (tests). */
    Portolan(URI agent, Duration retryFor, Consumer<Thread> hooks) {
        this(agent, retryFor, hooks, null);
    }

    Portolan(URI agent, Duration retryFor, Consumer<Thread> hooks, String token) {
        this.http = new AgentHttp(agent, token);
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
        Portolan p = env == null || env.isBlank() ? agent(DEFAULT_AGENT) : new Portolan(Check.agent(AGENT_ENV, env.strip()), Duration.ofSeconds(30), (String) null);
        String tokenFile = System.getenv(TOKEN_FILE_ENV);
        return tokenFile == null || tokenFile.isBlank() ? p : p.tokenFile(Path.of(tokenFile.strip()));
    }

    /**
     * The agent at {@code agent}: {@code http://HOST:PORT}, its {@code --admin-listen} or one of its
     * {@code --register-listen} addresses.
     *
     * @throws IllegalArgumentException if {@code agent} is not such a URL
     */
    public static Portolan agent(URI agent) {
        return new Portolan(Check.agent("agent URL", agent), Duration.ofSeconds(30), (String) null);
    }

    /**
     * The same agent, sending {@code token} as {@code Authorization: Bearer} (the agent's
     * {@code --admin-token-file}: its admin API wants one when it listens beyond loopback; the
     * registration listeners take none).
     *
     * @throws IllegalArgumentException if {@code token} is empty or holds spaces or control characters
     */
    public Portolan token(String token) {
        if (token == null || token.isEmpty() || token.chars().anyMatch(c -> c < 0x21 || c > 0x7e)) {
            throw Check.bad("token", token == null ? null : "(" + token.length() + " characters)", "printable characters, no spaces");
        }
        return new Portolan(http.base(), retryFor, hooks, token);
    }

    /**
     * {@link #token}, read from {@code file} (its first line). {@link #agent()} does this with the file
     * {@code $PORTOLAN_AGENT_TOKEN_FILE} names.
     *
     * @throws IllegalArgumentException if the file cannot be read or holds no token
     */
    public Portolan tokenFile(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            throw Check.bad("token file", file, "cannot read it (" + e + ")");
        }
        String line = text.lines().findFirst().orElse("").strip();
        if (line.isEmpty()) {
            throw Check.bad("token file", file, "empty; the token is its first line");
        }
        return token(line);
    }

    /**
     * The same agent, retrying {@link #register} and {@link Registration#deregister} for
     * {@code retryFor} (zero: one attempt) while it cannot be reached or answers 503.
     */
    public Portolan retryFor(Duration retryFor) {
        if (retryFor == null || retryFor.isNegative()) {
            throw Check.bad("retryFor", retryFor, "zero or more");
        }
        return new Portolan(http.base(), retryFor, hooks, http.token());
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
