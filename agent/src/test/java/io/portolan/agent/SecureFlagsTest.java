package io.portolan.agent;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.agent.testing.TestPki;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad values for the TLS, etcd user and admin token flags: exit 2 naming the flag and the value, before
 * anything starts (no listener opened, no connection to the etcd endpoint: a socket stands in for etcd
 * and counts who connects).
 */
class SecureFlagsTest {
    static TestPki pki;
    static ServerSocket fakeEtcd;
    static Map<String, String> files;

    @BeforeAll
    static void up() throws Exception {
        pki = new TestPki();
        fakeEtcd = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        fakeEtcd.setSoTimeout(300);
        Path dir = Files.createDirectory(pki.dir().resolve("a-directory"));
        Path worldKey = pki.file("world.key", Files.readString(pki.clientKey()), "rw-r--r--");
        files = Map.ofEntries(
                Map.entry("CA", pki.caCert().toString()),
                Map.entry("CERT", pki.clientCert().toString()),
                Map.entry("KEY", pki.clientKey().toString()),
                Map.entry("WORLDKEY", worldKey.toString()),
                Map.entry("NOTAKEY", pki.file("not-a.key", Files.readString(pki.clientCert()), "rw-------").toString()),
                Map.entry("TEXT", pki.file("text.crt", "hello\n", "rw-r--r--").toString()),
                Map.entry("DIR", dir.toString()),
                Map.entry("PW", pki.file("good.password", "secret-1\n", "rw-------").toString()),
                Map.entry("EMPTY", pki.file("empty.password", "", "rw-------").toString()),
                Map.entry("NEWLINE", pki.file("newline.password", "\n", "rw-------").toString()),
                Map.entry("WORLDPW", pki.file("world.password", "secret-1\n", "rw-r--r--").toString()),
                Map.entry("TOKEN", pki.file("admin.token", "0123456789abcdef0123456789abcdef\n", "rw-r-----").toString()),
                Map.entry("SHORT", pki.file("short.token", "abc\n", "rw-------").toString()),
                Map.entry("WORLDTOKEN", pki.file("world.token", "0123456789abcdef0123456789abcdef\n", "rw-r--r--").toString()),
                Map.entry("HTTPS", "https://127.0.0.1:" + fakeEtcd.getLocalPort()),
                Map.entry("HTTP", "http://127.0.0.1:" + fakeEtcd.getLocalPort()));
    }

    @AfterAll
    static void down() throws Exception {
        fakeEtcd.close();
        pki.close();
    }

    record Run(int code, String err) {
    }

    static Run run(String line, int adminPort) {
        String l = line.replace("ADMIN", String.valueOf(adminPort));
        l = substitute(l);
        String[] args = l.trim().split(" +");
        return assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            PrintStream old = System.err;
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            try {
                return new Run(Main.run(args), err.toString(StandardCharsets.UTF_8));
            } finally {
                System.setErr(old);
            }
        });
    }

    /** The placeholders replaced by the files' paths, longest name first (WORLDPW before PW). */
    static String substitute(String s) {
        for (String k : files.keySet().stream().sorted((a, b) -> b.length() - a.length()).toList()) {
            s = s.replace(k, files.get(k));
        }
        return s;
    }

    static boolean someoneConnected() throws IOException {
        try (Socket s = fakeEtcd.accept()) {
            return s != null;
        } catch (SocketTimeoutException e) {
            return false;
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            "agent --etcd-endpoints HTTPS --etcd-cacert /nonexistent/ca.crt | --etcd-cacert '/nonexistent/ca.crt': no such file",
            "agent --etcd-endpoints HTTPS --etcd-cacert DIR | --etcd-cacert 'DIR': not a regular file",
            "agent --etcd-endpoints HTTPS --etcd-cacert TEXT | --etcd-cacert 'TEXT'",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-cert /nonexistent/c.crt --etcd-key KEY | --etcd-cert '/nonexistent/c.crt': no such file",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-cert CERT --etcd-key /nonexistent/c.key | --etcd-key '/nonexistent/c.key': no such file",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-cert CERT --etcd-key DIR | --etcd-key 'DIR': not a regular file",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-cert CERT --etcd-key WORLDKEY | --etcd-key 'WORLDKEY': readable by every user",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-cert CERT --etcd-key NOTAKEY | --etcd-key 'NOTAKEY': not a private key",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-cert CERT | --etcd-cert 'CERT': --etcd-cert and --etcd-key go together",
            "agent --etcd-endpoints HTTP --etcd-cacert CA | --etcd-cacert 'CA': TLS needs https:// endpoints",
            "agent --etcd-endpoints HTTP,HTTPS | --etcd-endpoints",
            "agent --etcd-cacert CA | --etcd-cacert 'CA': goes with --etcd-endpoints",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-user portolan | --etcd-user 'portolan': --etcd-user and --etcd-password-file go together",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-user portolan --etcd-password-file /nonexistent/pw | --etcd-password-file '/nonexistent/pw': no such file",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-user portolan --etcd-password-file EMPTY | --etcd-password-file 'EMPTY': the file is empty",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-user portolan --etcd-password-file NEWLINE | --etcd-password-file 'NEWLINE'",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-user portolan --etcd-password-file WORLDPW | --etcd-password-file 'WORLDPW': readable by every user",
            "agent --etcd-endpoints HTTPS --etcd-cacert CA --etcd-user portolan --etcd-password-file DIR | --etcd-password-file 'DIR': not a regular file",
            "agent --admin-listen 0.0.0.0:ADMIN | --admin-listen '0.0.0.0:ADMIN': is not a loopback address",
            "agent --admin-listen 127.0.0.1:ADMIN --admin-token-file /nonexistent/token | --admin-token-file '/nonexistent/token': no such file",
            "agent --admin-listen 0.0.0.0:ADMIN --admin-token-file EMPTY | --admin-token-file 'EMPTY': the file is empty",
            "agent --admin-listen 0.0.0.0:ADMIN --admin-token-file WORLDTOKEN | --admin-token-file 'WORLDTOKEN': readable by every user",
            "agent --admin-listen 0.0.0.0:ADMIN --admin-token-file SHORT | --admin-token-file 'SHORT': the token must be at least 16",
            "register --agent http://127.0.0.1:ADMIN --service web --port 80 --etcd-cacert CA | --etcd-cacert 'CA': goes with --etcd-endpoints",
            "agent --etcd-endpoints http://127.0.0.1:2379 --etcd-start last | --etcd-start 'last': random or first",
            "agent --etcd-start first | --etcd-start 'first': goes with --etcd-endpoints",
            "register --etcd-endpoints HTTPS --service web --address 10.0.0.1 --port 80 --etcd-user u --etcd-password-file WORLDPW | --etcd-password-file 'WORLDPW'",
            "register --etcd-endpoints HTTPS --service web --address 10.0.0.1 --port 80 --etcd-cacert /nonexistent/ca.crt | --etcd-cacert '/nonexistent/ca.crt'",
            "services --agent http://127.0.0.1:ADMIN --admin-token-file WORLDTOKEN | --admin-token-file 'WORLDTOKEN': readable by every user",
            "deregister --agent http://127.0.0.1:ADMIN --service web --id web-1 --admin-token-file /nonexistent/t | --admin-token-file '/nonexistent/t'",
    })
    void badSecureFlag_exit2_namesFlagAndValue_nothingStarted(String line, String named) throws Exception {
        int admin = EtcdServer.freePort();
        Run r = run(line.replace("ADMIN", String.valueOf(admin)), admin);
        String want = substitute(named).replace("ADMIN", String.valueOf(admin));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains(want), "names " + want + ":\n" + r.err());
        assertTrue(!r.err().contains("up: admin API"), "nothing started: " + r.err());
        try (Socket s = new Socket()) {
            assertTrue(assertThrowsIo(() -> s.connect(new java.net.InetSocketAddress("127.0.0.1", admin), 300)), "no listener on " + admin);
        }
        assertTrue(!someoneConnected(), "nobody connected to the etcd endpoint");
    }

    interface Io {
        void run() throws IOException;
    }

    static boolean assertThrowsIo(Io io) {
        try {
            io.run();
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    @Test
    void nonLoopbackAdmin_withToken_parses_tokenKept() {
        AgentConfig c = AgentConfig.parse(new String[] {"--admin-listen", "0.0.0.0:0", "--admin-token-file", files.get("TOKEN"),
                "--advertise-address", "127.0.0.1", "--dns-listen", "none"});
        assertEquals("0123456789abcdef0123456789abcdef", c.adminToken());
        assertNull(c.etcdAccess(), "no etcd, no access");
    }

    @Test
    void httpsWithoutCa_getsTlsAnyway_neverPlainText() {
        AgentConfig c = AgentConfig.parse(new String[] {"--etcd-endpoints", files.get("HTTPS"), "--advertise-address", "127.0.0.1",
                "--dns-listen", "none"});
        assertNotNull(c.etcdAccess().tls(), "an https endpoint always gets a TLS context");
        assertTrue(c.etcdAccess().describe().contains("the JVM's trusted CAs"), c.etcdAccess().describe());
    }

    @Test
    void configFile_keysAsFlags_readTheFiles() throws Exception {
        Path conf = pki.file("agent.conf", String.join("\n", "etcd-endpoints = " + files.get("HTTPS"), "etcd-cacert = " + files.get("CA"),
                "etcd-cert = " + files.get("CERT"), "etcd-key = " + files.get("KEY"), "etcd-user = portolan",
                "etcd-password-file = " + files.get("PW"), "admin-listen = 0.0.0.0:0", "admin-token-file = " + files.get("TOKEN"), ""), "rw-r--r--");
        AgentConfig c = AgentConfig.parse(new String[] {"--config", conf.toString(), "--advertise-address", "127.0.0.1", "--dns-listen", "none"});
        assertEquals("portolan", c.etcdAccess().user());
        assertEquals("secret-1", new String(c.etcdAccess().password(), StandardCharsets.UTF_8), "the file's line, without its line break");
        assertTrue(c.etcdAccess().describe().contains("--etcd-cert " + files.get("CERT")), c.etcdAccess().describe());
        assertTrue(!c.etcdAccess().describe().contains("secret-1") && !c.etcdAccess().toString().contains("secret-1"), "never the password");
        assertEquals("0123456789abcdef0123456789abcdef", c.adminToken());
        assertTrue(!c.toString().contains("0123456789abcdef") && !c.toString().contains("secret-1"), "no secret in " + c);
    }
}
