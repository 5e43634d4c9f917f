package io.portolan.agent;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.client.Portolan;
import io.portolan.client.PortolanException;
import io.portolan.client.Registration;
import io.portolan.client.Service;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --admin-token-file}: every admin API request but /healthz and /readyz carries the bearer token;
 * the CLI sends it from {@code --admin-token-file} or {@code $PORTOLAN_AGENT_TOKEN_FILE}, the Java client
 * from {@code tokenFile}; the registration listener ({@code --register-listen}) stays tokenless.
 */
class AdminTokenTest {
    static final String TOKEN = "5f0c1e7d9a2b4c6e8f0a1b2c3d4e5f60";
    static Agent agent;
    static Path tokenFile;
    static Path wrongFile;
    static String admin;
    static String register;
    static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void up() throws Exception {
        Path dir = Files.createTempDirectory("admin-token");
        tokenFile = secret(dir.resolve("token"), TOKEN + "\n");
        wrongFile = secret(dir.resolve("wrong"), "ffffffffffffffffffffffffffffffff\n");
        agent = Agent.start(AgentConfig.parse(new String[] {"--state-dir", dir.resolve("state").toString(), "--admin-listen", "127.0.0.1:0",
                "--admin-token-file", tokenFile.toString(), "--register-listen", "127.0.0.21:0", "--advertise-address", "127.0.0.1",
                "--dns-listen", "none", "--dataplane", "none", "--node", "token-1"}));
        admin = "http://127.0.0.1:" + agent.adminAddress().getPort();
        register = "http://127.0.0.21:" + agent.registerAddresses().get(0).getPort();
        Await.until("ready", 10_000, agent::ready);
    }

    static Path secret(Path p, String content) throws IOException {
        Files.writeString(p, content);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
        return p;
    }

    @AfterAll
    static void down() {
        agent.close();
    }

    static HttpResponse<String> get(String url, String authorization) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void adminApi_withoutOrWithWrongToken_401_withToken_200() throws Exception {
        for (String auth : new String[] {null, "Bearer wrong", "Bearer " + TOKEN + "x", "Basic " + TOKEN, "Bearer " + TOKEN.substring(1)}) {
            HttpResponse<String> r = get(admin + "/v1/services", auth);
            assertEquals(401, r.statusCode(), auth + ": " + r.body());
            assertTrue(r.body().contains("--admin-token-file"), r.body());
            assertEquals("Bearer realm=\"portolan\"", r.headers().firstValue("WWW-Authenticate").orElse(null));
        }
        for (String path : new String[] {"/v1/services", "/v1/snapshot", "/metrics", "/v1/status", "/v1/status/services"}) {
            assertEquals(200, get(admin + path, "Bearer " + TOKEN).statusCode(), path);
            assertEquals(401, get(admin + path, null).statusCode(), path);
        }
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create(admin + "/v1/instances"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"service\":\"nope\",\"address\":\"10.0.0.9\",\"ports\":[{\"port\":80}]}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(401, post.statusCode(), post.body());
        assertTrue(agent.publisher().current().service("nope").isEmpty(), "an unauthorised request changes nothing");
    }

    @Test
    void probes_needNoToken() throws Exception {
        assertEquals(200, get(admin + "/healthz", null).statusCode());
        assertEquals(200, get(admin + "/readyz", null).statusCode());
    }

    @Test
    void statusPage_loadsWithoutToken_itsDocumentsDoNot() throws Exception {
        HttpResponse<String> page = get(admin + "/", null);
        assertEquals(200, page.statusCode());
        assertTrue(page.body().contains("token="), "the page takes the token from its address's #token=");
        assertEquals(401, get(admin + "/v1/status/services", null).statusCode());
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create(admin + "/"))
                .POST(HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(401, post.statusCode(), "only GET / is open: " + post.body());
    }

    @Test
    void registrationListener_staysTokenless() throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(register + "/v1/instances"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"service\":\"box\",\"id\":\"box-1\",\"ports\":[{\"port\":8080}],\"ttl\":30}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(201, r.statusCode(), r.body());
        Await.until("box-1 served", 5_000, () -> agent.publisher().current().instances("box").size() == 1);
    }

    @Test
    void cli_tokenFromFlagOrEnv_works_withoutIt_exit1_saysWhy() throws Exception {
        Cli.Result with = Cli.run("services", "--agent", admin, "--admin-token-file", tokenFile.toString());
        assertEquals(0, with.code(), with.output());
        assertTrue(with.output().contains("SERVICE"), with.output());

        ProcessBuilder pb = Cli.builder("services", "--agent", admin).redirectErrorStream(true);
        pb.environment().put("PORTOLAN_AGENT_TOKEN_FILE", tokenFile.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);

        Cli.Result without = Cli.run("services", "--agent", admin);
        assertEquals(1, without.code(), without.output());
        assertTrue(without.output().contains("wants its admin token"), without.output());
        Cli.Result wrong = Cli.run("deregister", "--agent", admin, "--service", "web", "--id", "web-1", "--admin-token-file", wrongFile.toString());
        assertEquals(1, wrong.code(), wrong.output());
        assertTrue(wrong.output().contains("wants its admin token"), wrong.output());
    }

    @Test
    void cli_registerWithToken_registersAndHeartbeats() throws Exception {
        try (Cli.Registrant r = new Cli.Registrant("register", "--agent", admin, "--admin-token-file", tokenFile.toString(),
                "--service", "cli", "--address", "10.0.0.7", "--port", "80", "--id", "cli-1", "--ttl", "2")) {
            assertEquals("cli-1", r.awaitRegistered());
            Thread.sleep(3_000); // past the TTL: alive only if its heartbeats carry the token
            assertEquals(1, agent.publisher().current().instances("cli").size(), "kept alive by authorised heartbeats");
        }
    }

    @Test
    void javaClient_tokenFile_registers_withoutToken_401() throws Exception {
        PortolanException e = assertThrows(PortolanException.class,
                () -> Portolan.agent(URI.create(admin)).retryFor(Duration.ZERO).register(Service.named("lib").port("http", 8080).address("10.0.0.8")));
        assertEquals(401, e.status(), e.getMessage());
        try (Registration reg = Portolan.agent(URI.create(admin)).tokenFile(tokenFile).register(Service.named("lib").port("http", 8080)
                .address("10.0.0.8").ttl(Duration.ofSeconds(2)))) {
            Await.until("lib registered", 5_000, () -> agent.publisher().current().instances("lib").size() == 1);
            Thread.sleep(3_000);
            assertEquals(1, agent.publisher().current().instances("lib").size(), "heartbeats carry the token");
        }
    }
}
