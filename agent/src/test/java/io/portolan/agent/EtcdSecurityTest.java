package io.portolan.agent;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.agent.testing.TestPki;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent and {@code register --etcd-endpoints} against a real etcd that wants TLS with client
 * certificates ({@code --client-cert-auth}) and has its authentication on: user {@code portolan} with a
 * role on {@code /portolan/} (and read on Dubbo's keys), user {@code other} with a role on
 * {@code /elsewhere/} only. Each refusal stops the start with one line naming it, before anything
 * listens; nothing ever goes over plain text.
 */
class EtcdSecurityTest {
    static TestPki pki;
    static EtcdServer etcd;
    static Path password;
    static Path otherPassword;
    static Path wrongPassword;
    static Path readerPassword;
    static String endpoint;

    @BeforeAll
    static void up() throws Exception {
        pki = new TestPki();
        etcd = new EtcdServer(pki);
        endpoint = etcd.endpoint().toString();
        etcd.etcdctl("user", "add", "root", "--new-user-password=root-secret-1", "--interactive=false");
        etcd.etcdctl("user", "grant-role", "root", "root");
        // the role the README gives an agent: read and write under its prefix, read under Dubbo's keys
        etcd.etcdctl("role", "add", "portolan-agent");
        etcd.etcdctl("role", "grant-permission", "portolan-agent", "--prefix=true", "readwrite", "/portolan/");
        etcd.etcdctl("role", "grant-permission", "portolan-agent", "--prefix=true", "read", "/dubbo/");
        etcd.etcdctl("role", "grant-permission", "portolan-agent", "--prefix=true", "read", "/services/");
        etcd.etcdctl("user", "add", "portolan", "--new-user-password=agent-secret-1", "--interactive=false");
        etcd.etcdctl("user", "grant-role", "portolan", "portolan-agent");
        etcd.etcdctl("role", "add", "elsewhere");
        etcd.etcdctl("role", "grant-permission", "elsewhere", "--prefix=true", "readwrite", "/elsewhere/");
        etcd.etcdctl("user", "add", "other", "--new-user-password=other-secret-1", "--interactive=false");
        etcd.etcdctl("user", "grant-role", "other", "elsewhere");
        etcd.etcdctl("role", "add", "reader");
        etcd.etcdctl("role", "grant-permission", "reader", "--prefix=true", "read", "/portolan/");
        etcd.etcdctl("user", "add", "reader", "--new-user-password=reader-secret-1", "--interactive=false");
        etcd.etcdctl("user", "grant-role", "reader", "reader");
        etcd.etcdctl("auth", "enable");
        etcd.etcdctlUser("root:root-secret-1");
        password = pki.file("agent.password", "agent-secret-1\n", "rw-------");
        otherPassword = pki.file("other.password", "other-secret-1\n", "rw-------");
        wrongPassword = pki.file("wrong.password", "not-the-password\n", "rw-------");
        readerPassword = pki.file("reader.password", "reader-secret-1", "rw-------"); // no line break: also fine
    }

    @AfterAll
    static void down() throws Exception {
        etcd.close();
        pki.close();
    }

    /** The agent's flags against this etcd: {@code extra} replaces nothing, so each case says what it gives. */
    static List<String> agentArgs(int adminPort, String... extra) throws IOException {
        List<String> a = new ArrayList<>(List.of("--etcd-endpoints", endpoint, "--admin-listen", "127.0.0.1:" + adminPort,
                "--dns-listen", "none", "--dataplane", "none", "--advertise-address", "127.0.0.1", "--node", "secure-1",
                "--state-dir", Files.createTempDirectory("secure-state").toString()));
        a.addAll(List.of(extra));
        return a;
    }

    static String[] good(String... more) {
        List<String> a = new ArrayList<>(List.of("--etcd-cacert", pki.caCert().toString(), "--etcd-cert", pki.clientCert().toString(),
                "--etcd-key", pki.clientKey().toString(), "--etcd-user", "portolan", "--etcd-password-file", password.toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    record Run(int code, String err) {
        /** The lines the command itself printed ("portolan: ..."), not the log's. */
        List<String> own() {
            return err.lines().filter(l -> l.startsWith("portolan: ")).toList();
        }
    }

    /** {@code portolan ARGS} in this JVM, its stderr captured; an agent that starts would block: fail after 60 s. */
    static Run run(List<String> args) {
        return assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream old = System.err;
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            try {
                int code = Main.run(args.toArray(String[]::new));
                return new Run(code, err.toString(StandardCharsets.UTF_8));
            } finally {
                System.setErr(old);
            }
        });
    }

    static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** A refused start: exit 1, one line naming {@code named}, and the admin port never opened. */
    static void refused(List<String> cmd, int adminPort, String... named) {
        Run r = run(cmd);
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.own().size(), "one line: " + r.err());
        String line = r.own().get(0);
        System.out.println("refused as it should be: " + line); // for a person reading the test's output
        for (String n : named) {
            assertTrue(line.contains(n), "names " + n + ": " + line);
        }
        assertFalse(listening(adminPort), "no listener opened");
    }

    @Test
    void rightCertificateAndUser_agentServesAndWrites_registerViaEtcdToo() throws Exception {
        List<String> args = agentArgs(0, good());
        try (Agent agent = Agent.start(AgentConfig.parse(args.toArray(String[]::new)))) {
            Await.until("first listing", 20_000, agent::ready);
            String admin = "http://127.0.0.1:" + agent.adminAddress().getPort();
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(admin + "/v1/instances"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"service\":\"web\",\"id\":\"web-1\",\"address\":\"10.0.0.1\","
                            + "\"ports\":[{\"port\":80}],\"ttl\":30}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(201, r.statusCode(), r.body());
            assertTrue(etcd.etcdctl("get", "--prefix", "--keys-only", "/portolan/instances/web/").contains("/portolan/instances/web/web-1"),
                    "written to etcd as user portolan");
            // register straight into etcd, with the same certificate and user, from the CLI's own JVM
            List<String> reg = new ArrayList<>(List.of("register", "--etcd-endpoints", endpoint, "--service", "db", "--address", "10.0.0.2",
                    "--port", "5432", "--id", "db-1", "--node", "secure-1"));
            reg.addAll(List.of(good()));
            try (Cli.Registrant db = new Cli.Registrant(reg.toArray(String[]::new))) {
                assertEquals("db-1", db.awaitRegistered());
                Await.until("the agent sees db-1", 10_000, () -> agent.publisher().current().instances("db").size() == 1);
            }
        }
    }

    @Test
    void twoEndpoints_overTls_work() throws Exception {
        List<String> args = agentArgs(0, good());
        args.set(1, endpoint + "," + endpoint); // the same member twice: a list of endpoints, as a cluster gives
        try (Agent agent = Agent.start(AgentConfig.parse(args.toArray(String[]::new)))) {
            Await.until("first listing", 20_000, agent::ready);
        }
    }

    @Test
    void serverCertificateForAnotherAddress_refusedAtStart() throws Exception {
        try (EtcdServer misnamed = new EtcdServer(pki, "wrongname")) {
            int port = EtcdServer.freePort();
            List<String> a = new ArrayList<>(List.of("agent"));
            a.addAll(agentArgs(port, good()));
            a.set(2, misnamed.endpoint().toString());
            refused(a, port, misnamed.endpoint().toString(), "does not name that address");
        }
    }

    @Test
    void wrongCa_refusedAtStart_namesTheCa() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, "--etcd-cacert", pki.cert("other-ca").toString(), "--etcd-cert", pki.clientCert().toString(),
                "--etcd-key", pki.clientKey().toString(), "--etcd-user", "portolan", "--etcd-password-file", password.toString()));
        refused(a, port, "not signed by a CA we trust", "other-ca.crt");
    }

    @Test
    void noClientCertificate_refusedAtStart_saysEtcdWantsOne() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, "--etcd-cacert", pki.caCert().toString(), "--etcd-user", "portolan", "--etcd-password-file", password.toString()));
        refused(a, port, "refused our TLS client certificate", "no client certificate");
    }

    @Test
    void clientCertificateOfAnotherCa_refusedAtStart() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, "--etcd-cacert", pki.caCert().toString(), "--etcd-cert", pki.cert("other-client").toString(),
                "--etcd-key", pki.key("other-client").toString(), "--etcd-user", "portolan", "--etcd-password-file", password.toString()));
        refused(a, port, "refused our TLS client certificate", "other-client.crt");
    }

    @Test
    void wrongPassword_refusedAtStart_namesTheUser() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, "--etcd-cacert", pki.caCert().toString(), "--etcd-cert", pki.clientCert().toString(),
                "--etcd-key", pki.clientKey().toString(), "--etcd-user", "portolan", "--etcd-password-file", wrongPassword.toString()));
        refused(a, port, "refused etcd user 'portolan'", "wrong user name or password");
    }

    @Test
    void userWhoseRoleLacksThePrefix_refusedAtStart_namesPrefix() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, "--etcd-cacert", pki.caCert().toString(), "--etcd-cert", pki.clientCert().toString(),
                "--etcd-key", pki.clientKey().toString(), "--etcd-user", "other", "--etcd-password-file", otherPassword.toString()));
        refused(a, port, "etcd user 'other'", "permission to read /portolan/", "readwrite on /portolan/");
    }

    @Test
    void userWhoseRoleOnlyReadsThePrefix_refusedAtStart_saysWrite() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, "--etcd-cacert", pki.caCert().toString(), "--etcd-cert", pki.clientCert().toString(),
                "--etcd-key", pki.clientKey().toString(), "--etcd-user", "reader", "--etcd-password-file", readerPassword.toString()));
        refused(a, port, "etcd user 'reader'", "permission to write under /portolan/", "readwrite on /portolan/");
    }

    @Test
    void etcdUnreachableAtStart_isNoRefusal_agentStartsAndWaits() throws Exception {
        List<String> args = agentArgs(0, good("--etcd-timeout", "1s"));
        args.set(1, "https://127.0.0.1:" + EtcdServer.freePort()); // nothing listens there
        try (Agent agent = Agent.start(AgentConfig.parse(args.toArray(String[]::new)))) {
            assertTrue(listening(agent.adminAddress().getPort()), "the admin API serves while etcd is away");
            assertFalse(agent.ready(), "not ready without the store");
        }
    }

    @Test
    void importWithTheReadmesRole_starts() throws Exception {
        try (Agent agent = Agent.start(AgentConfig.parse(agentArgs(0, good("--import", "dubbo")).toArray(String[]::new)))) {
            Await.until("first listing with Dubbo's keys", 20_000, agent::ready);
        }
    }

    @Test
    void importWithoutReadOnDubboRoot_refusedAtStart_namesIt() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, good("--import", "dubbo", "--dubbo-root", "shop")));
        refused(a, port, "etcd user 'portolan'", "permission to read /shop/");
    }

    @Test
    void registerViaEtcd_wrongPassword_exit1_oneLine_writesNothing() throws Exception {
        Cli.Result r = Cli.run("register", "--etcd-endpoints", endpoint, "--service", "cache", "--address", "10.0.0.3", "--port", "6379",
                "--etcd-cacert", pki.caCert().toString(), "--etcd-cert", pki.clientCert().toString(), "--etcd-key", pki.clientKey().toString(),
                "--etcd-user", "portolan", "--etcd-password-file", wrongPassword.toString());
        assertEquals(1, r.code(), r.output());
        System.out.println("register refused as it should be: " + r.output().strip());
        assertTrue(r.output().contains("portolan: etcd at " + endpoint + " refused etcd user 'portolan'"), r.output());
        assertFalse(etcd.etcdctl("get", "--prefix", "--keys-only", "/portolan/").contains("cache"), "nothing written");
    }

    @Test
    void httpsEndpointWithoutCa_toPlainEtcd_neverSpeaksPlainText() throws Exception {
        try (EtcdServer plain = new EtcdServer()) {
            int port = EtcdServer.freePort();
            String https = plain.endpoint().toString().replace("http://", "https://");
            List<String> a = new ArrayList<>(List.of("agent", "--etcd-endpoints", https, "--admin-listen", "127.0.0.1:" + port,
                    "--dns-listen", "none", "--dataplane", "none", "--advertise-address", "127.0.0.1", "--node", "plain-1",
                    "--state-dir", Files.createTempDirectory("secure-state").toString(), "--etcd-user", "portolan",
                    "--etcd-password-file", password.toString()));
            refused(a, port, "TLS handshake failed", https);
            assertEquals("", plain.etcdctl("get", "--prefix", "--keys-only", "/"), "nothing reached the plain etcd");
        }
    }

    @Test
    void httpsEndpointWithoutCa_toTlsEtcd_refusedAsUntrusted() throws Exception {
        int port = EtcdServer.freePort();
        List<String> a = new ArrayList<>(List.of("agent"));
        a.addAll(agentArgs(port, "--etcd-cert", pki.clientCert().toString(), "--etcd-key", pki.clientKey().toString(),
                "--etcd-user", "portolan", "--etcd-password-file", password.toString()));
        refused(a, port, "not signed by a CA we trust", "the JVM's trusted CAs");
    }
}
