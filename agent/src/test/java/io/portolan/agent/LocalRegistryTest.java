package io.portolan.agent;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Service;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The embedded registry: registration through the agent's API, TTLs, and surviving a restart. */
class LocalRegistryTest {
    final HttpClient http = HttpClient.newHttpClient();

    static Agent start(Path state) throws Exception {
        Agent a = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--state-dir", state.toString(), "--admin-listen", "127.0.0.1:0", "--dns-listen", "none",
                "--node", "n1"}));
        Await.until("loaded", 5_000, () -> a.state().loaded());
        return a;
    }

    HttpResponse<String> post(Agent a, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.adminAddress().getPort() + "/v1/instances"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void restart_keepsServicesInstancesAndVips() throws Exception {
        Path state = Files.createTempDirectory("local-state");
        Agent a = start(state);
        assertEquals(201, post(a, "{\"service\":\"web\",\"id\":\"w1\",\"address\":\"10.0.0.1\",\"ports\":[{\"name\":\"http\",\"port\":80}],\"ttl\":30}").statusCode());
        assertEquals(201, post(a, "{\"service\":\"db\",\"id\":\"d1\",\"address\":\"10.0.0.2\",\"ports\":[{\"port\":5432}],\"mode\":\"dnsrr\",\"ttl\":30}").statusCode());
        Await.until("both visible", 1_000, () -> a.publisher().current().instanceCount() == 2);
        ClusterSnapshot before = a.publisher().current();
        a.close();

        Agent b = start(state);
        try {
            Await.until("restored", 1_000, () -> b.publisher().current().instanceCount() == 2);
            ClusterSnapshot after = b.publisher().current();
            assertEquals(before.services(), after.services());
            assertEquals(before.instancesByService(), after.instancesByService());
            Service web = after.service("web").orElseThrow();
            assertTrue(web.vip() != null);
        } finally {
            b.close();
        }
    }

    @Test
    void noHeartbeat_instanceExpiresWithTtl_heartbeatsKeepIt() throws Exception {
        Agent a = start(Files.createTempDirectory("local-state"));
        try {
            assertEquals(201, post(a, "{\"service\":\"web\",\"id\":\"lost\",\"address\":\"10.0.0.3\",\"ports\":[{\"port\":80}],\"ttl\":2}").statusCode());
            // The CLI through the agent: heartbeats keep its instance past several TTLs.
            try (Cli.Registrant r = new Cli.Registrant("register", "--agent", "http://127.0.0.1:" + a.adminAddress().getPort(),
                    "--service", "web", "--address", "10.0.0.4", "--port", "80", "--ttl", "2", "--id", "kept")) {
                assertEquals("kept", r.awaitRegistered());
                long gone = Await.until("instance without heartbeats expires", 3_500,
                        () -> a.publisher().current().instances("web").stream().noneMatch(i -> i.id().equals("lost")));
                System.out.println("expired after " + gone + " ms");
                Thread.sleep(3_000);
                assertTrue(a.publisher().current().instances("web").stream().anyMatch(i -> i.id().equals("kept")),
                        "heartbeats keep the instance");
                r.process.destroy(); // SIGTERM: no command, so it deregisters and exits 0
                assertTrue(r.process.waitFor(10, TimeUnit.SECONDS));
                assertEquals(0, r.process.exitValue());
                Await.until("deregistered on SIGTERM", 1_000, () -> a.publisher().current().instances("web").isEmpty());
            }
        } finally {
            a.close();
        }
    }
}
