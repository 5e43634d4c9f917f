package io.portolan.client;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

/** The agent's HTTP API as the client uses it: one call, or one call retried while the agent is away. */
final class AgentHttp {
    static final System.Logger LOG = System.getLogger("io.portolan.client");
    /** First wait between attempts; doubled after each, up to {@link #MAX_BACKOFF}. */
    static final Duration FIRST_BACKOFF = Duration.ofMillis(100);
    static final Duration MAX_BACKOFF = Duration.ofSeconds(2);

    /** An answer: status and body. */
    record Reply(int status, String body) {
        /** The agent's {@code {"error": "..."}}, else the body as it is. */
        String error() {
            try {
                String e = Json.string(Json.object(body), "error");
                return e != null ? e : body;
            } catch (IllegalArgumentException notJson) {
                return body;
            }
        }

        Map<String, Object> json(String what) {
            try {
                return Json.object(body);
            } catch (IllegalArgumentException e) {
                throw new PortolanException(status, what + ": the agent answered " + status + " with " + e.getMessage(), e);
            }
        }
    }

    private final URI base;
    private final String token;
    private final HttpClient http;

    /** @param token the agent's admin token ({@code --admin-token-file}), sent as {@code Authorization: Bearer}, or null */
    AgentHttp(URI base, String token) {
        this.base = base;
        this.token = token;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(2))
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    URI base() {
        return base;
    }

    String token() {
        return token;
    }

    /** One request; IOException when the agent cannot be reached or does not answer within {@code timeout}. */
    Reply send(String method, String path, String json, Duration timeout) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(timeout);
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        if (json == null) {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        return new Reply(r.statusCode(), r.body());
    }

    /**
     * {@link #send}, again while the agent cannot be reached or answers 503, waiting 100 ms, 200 ms,
     * ... up to 2 s between attempts, for at most {@code retryFor}. Returns the first other answer;
     * throws {@link PortolanException} when the time is up or the thread is interrupted.
     */
    Reply call(String what, String method, String path, String json, Duration retryFor) {
        long deadline = System.nanoTime() + retryFor.toNanos();
        long backoff = FIRST_BACKOFF.toMillis();
        for (int attempt = 1; ; attempt++) {
            String problem;
            int status = 0;
            Throwable cause = null;
            try {
                Reply r = send(method, path, json, Duration.ofSeconds(5));
                if (r.status() != 503) {
                    return r;
                }
                status = 503;
                problem = "it answered 503: " + r.error();
            } catch (IOException e) {
                cause = e;
                problem = describe(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PortolanException(0, what + ": interrupted while calling the agent at " + base, e);
            }
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                throw new PortolanException(status, what + ": the agent at " + base + " could not be reached (" + problem + "); gave up after "
                        + attempt + " attempt" + (attempt == 1 ? "" : "s") + " in " + retryFor.toMillis() + " ms", cause);
            }
            if (attempt == 1) {
                LOG.log(Level.WARNING, "{0}: the agent at {1}: {2}; retrying for up to {3} ms", what, base, problem, String.valueOf(retryFor.toMillis()));
            }
            try {
                Thread.sleep(Math.min(backoff, left));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new PortolanException(0, what + ": interrupted while waiting for the agent at " + base, e);
            }
            backoff = Math.min(backoff * 2, MAX_BACKOFF.toMillis());
        }
    }

    static String describe(IOException e) {
        if (e instanceof ConnectException) {
            return "connection refused";
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    /** The agent's answer to anything but success, as the exception the caller sees. */
    PortolanException refused(String what, Reply r) {
        return new PortolanException(r.status(), what + ": the agent at " + base + " answered " + r.status() + ": " + r.error(), null);
    }
}
