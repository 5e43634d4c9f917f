package io.portolan.agent.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.agent.registry.RegistryUnavailableException;
import io.portolan.proto.ValidationException;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** The CLI's side of the agent's HTTP API. */
final class AgentClient {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    record Reply(int status, byte[] body) {
        String error() {
            try {
                JsonNode n = MAPPER.readTree(body);
                return n.path("error").asText(new String(body));
            } catch (IOException e) {
                return new String(body);
            }
        }

        JsonNode json() {
            try {
                return MAPPER.readTree(body);
            } catch (IOException e) {
                throw new IllegalStateException("the agent answered something that is not JSON", e);
            }
        }
    }

    private final URI base;
    private final String token;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** @param token the admin API's bearer token ({@code --admin-token-file}), or null */
    AgentClient(URI base, String token) {
        this.base = base;
        this.token = token;
    }

    URI base() {
        return base;
    }

    Reply send(String method, String path, byte[] body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(10));
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        try {
            HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
            return new Reply(r.statusCode(), r.body());
        } catch (IOException e) {
            throw new RegistryUnavailableException("cannot reach the agent at " + base + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryUnavailableException("interrupted talking to the agent", e);
        }
    }

    /** Throws the agent's error: 400/409 as a validation error, anything else as unavailable. */
    static void raise(Reply r, String what) {
        if (r.status() == 401) {
            throw new RegistryUnavailableException(what + ": the agent wants its admin token (" + r.error() + "): give --admin-token-file FILE "
                    + "or set $PORTOLAN_AGENT_TOKEN_FILE", null);
        }
        if (r.status() == 400 || r.status() == 409) {
            throw new ValidationException(what, r.status(), r.error());
        }
        throw new RegistryUnavailableException(what + ": the agent answered " + r.status() + ": " + r.error(), null);
    }
}
