package io.portolan.agent.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdServer;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The status page's registry card against a real etcd: its endpoint, connected or not, the revision, the watch's restarts. */
class StatusEtcdTest {
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    final ObjectMapper json = new ObjectMapper();

    JsonNode registry(Agent a) {
        try {
            HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.adminAddress().getPort() + "/v1/status"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, r.statusCode());
            return json.readTree(r.body()).path("registry");
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void status_etcd_connectedThenNotWhileDown_thenAgainWithAWatchRestart() throws Exception {
        try (EtcdServer etcd = new EtcdServer();
             Agent agent = Agent.start(AgentConfig.parse(new String[] {"--etcd-endpoints", etcd.endpoint().toString(),
                     "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--etcd-timeout", "1s", "--dataplane", "none",
                     "--state-dir", Files.createTempDirectory("status-etcd").toString()}))) {
            Await.until("agent loaded", 20_000, () -> agent.state().loaded());
            JsonNode r = registry(agent);
            assertEquals("etcd", r.path("kind").asText());
            assertEquals(etcd.endpoint().toString(), r.path("endpoints").path(0).asText());
            assertTrue(r.path("connected").asBoolean(), r.toString());
            assertTrue(r.path("lastEvent").isNumber(), "the first listing counts as the last event: " + r);
            assertEquals(0, r.path("watchRestarts").asLong());
            assertEquals(0, r.path("importWatchRestarts").asLong(), "no imports here");
            long revision = r.path("revision").asLong();
            assertTrue(revision > 0, r.toString());

            etcd.stop();
            Await.until("shown as not connected while etcd is down", 30_000, () -> !registry(agent).path("connected").asBoolean());
            etcd.start();
            Await.until("connected again", 60_000, () -> registry(agent).path("connected").asBoolean());
            JsonNode after = registry(agent);
            assertTrue(after.path("watchRestarts").asLong() >= 1, after.toString());
            assertTrue(after.path("revision").asLong() >= revision, after.toString());
        }
    }
}
