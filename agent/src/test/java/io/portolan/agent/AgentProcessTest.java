package io.portolan.agent;

import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.agent.testing.EtcdServer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The agent as an operator runs it: a config file under flags, health, metrics, the services table, SIGTERM. */
class AgentProcessTest {
    final HttpClient http = HttpClient.newHttpClient();

    int status(String url) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException | InterruptedException e) {
            return -1;
        }
    }

    String body(String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    @Test
    void configFileUnderFlags_health_metrics_table_cleanSigterm() throws Exception {
        Path dir = Files.createTempDirectory("agent-proc");
        int wrongPort = EtcdServer.freePort();
        int port = EtcdServer.freePort();
        int dnsPort = EtcdServer.freePort();
        Path conf = dir.resolve("agent.conf");
        Files.writeString(conf, String.join("\n",
                "# a comment",
                "state-dir = " + dir.resolve("state"),
                "admin-listen = 127.0.0.1:" + wrongPort,
                "vip-cidr = 10.55.0.0/24",
                "node = conf-node",
                "dns-listen = 127.0.0.1:" + dnsPort,
                "dataplane = none", ""));
        Process agent = Cli.builder("agent", "--config", conf.toString(), "--admin-listen", "127.0.0.1:" + port)
                .redirectErrorStream(true).redirectOutput(dir.resolve("agent.log").toFile()).start();
        String base = "http://127.0.0.1:" + port;
        try {
            Await.until("agent up on the flag's port (flags win)", 20_000, () -> status(base + "/healthz") == 200);
            assertEquals(-1, status("http://127.0.0.1:" + wrongPort + "/healthz"));
            Await.until("ready", 5_000, () -> status(base + "/readyz") == 200);

            Cli.Result reg = Cli.run("register", "--agent", base, "--service", "api", "--address", "10.0.0.7", "--port", "grpc:9000",
                    "--id", "api-1", "--ttl", "30", "--", "true");
            assertEquals(0, reg.code(), reg.output());
            assertTrue(reg.output().contains("registered api/api-1 vip 10.55.0."), reg.output());
            Cli.Result hold = Cli.run("register", "--agent", base, "--service", "api", "--address", "10.0.0.8", "--port", "grpc:9000",
                    "--id", "api-2", "--ttl", "30", "--", "sleep", "0");
            assertEquals(0, hold.code(), hold.output());

            // `register -- true` deregistered when true exited; register one that stays.
            try (Cli.Registrant r = new Cli.Registrant("register", "--agent", base, "--service", "api", "--address", "10.0.0.9",
                    "--port", "grpc:9000", "--id", "api-3", "--weight", "7")) {
                r.awaitRegistered();
                Cli.Result table = Cli.run("services", "--agent", base);
                assertEquals(0, table.code(), table.output());
                String[] lines = table.output().split("\n");
                assertTrue(lines[0].matches("SERVICE\\s+MODE\\s+VIP\\s+PORTS\\s+INSTANCE\\s+ADDRESS\\s+NODE\\s+WEIGHT\\s+HEALTH\\s+AGE"), lines[0]);
                assertTrue(lines[1].matches("api\\s+vip\\s+10\\.55\\.0\\.\\d+\\s+grpc:9000/tcp\\s+api-3\\s+10\\.0\\.0\\.9:9000\\s+conf-node\\s+7\\s+healthy\\s+\\d+s"),
                        lines[1]);
                // The same instance through the agent's DNS server, with a real client.
                String vip = lines[1].split("\\s+")[2];
                assertEquals(vip, dig(dnsPort, "api.portolan.internal", "A"));
                assertEquals(vip, dig(dnsPort, "api", "A"));
                assertEquals("10.0.0.9", dig(dnsPort, "tasks.api.portolan.internal", "A"));
                Cli.Result json = Cli.run("services", "--agent", base, "--json");
                assertTrue(json.output().contains("\"id\":\"api-3\""), json.output());

                String metrics = body(base + "/metrics");
                assertTrue(metrics.contains("portolan_snapshot_instances 1.0"), metrics);
                assertTrue(metrics.contains("portolan_registry_events_total"), "registry meters");
                assertTrue(metrics.contains("jvm_memory_used_bytes"), "JVM meters");
            }
            agent.destroy(); // SIGTERM
            assertTrue(agent.waitFor(15, TimeUnit.SECONDS), "the agent stops on SIGTERM");
            assertEquals(143, agent.exitValue());
            String log = Files.readString(dir.resolve("agent.log"), StandardCharsets.UTF_8);
            assertTrue(log.contains("portolan agent stopped"), log);
        } finally {
            agent.destroyForcibly();
        }
    }

    static String dig(int port, String name, String type) throws Exception {
        Process p = new ProcessBuilder("dig", "+short", "+time=2", "+tries=1", "-p", String.valueOf(port), "@127.0.0.1", name, type)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return out;
    }

    @Test
    void configFile_unknownKey_exit2NamesKey() throws Exception {
        Path conf = Files.createTempFile("bad", ".conf");
        Files.writeString(conf, "admin-listen = 127.0.0.1:0\ncolour = blue\n");
        Cli.Result r = Cli.run("agent", "--config", conf.toString());
        assertEquals(2, r.code(), r.output());
        assertTrue(r.output().contains("'colour'"), r.output());
    }
}
