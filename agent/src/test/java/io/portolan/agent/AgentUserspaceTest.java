package io.portolan.agent;

import com.sun.net.httpserver.HttpServer;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.proto.Service;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole path on one host: `portolan register` through the agent, the snapshot, the userspace
 * data plane listening on the VIP, and curl through the VIP reaching both instances. VIPs come
 * from 127.77.0.0/24, already local on lo, so the test needs no address changes.
 */
class AgentUserspaceTest {
    static HttpServer server(String body) throws Exception {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        s.createContext("/", ex -> {
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        s.start();
        return s;
    }

    @Test
    void registerThroughAgent_curlThroughVip_reachesEveryInstance() throws Exception {
        HttpServer a = server("instance-a");
        HttpServer b = server("instance-b");
        Agent agent = Agent.start(AgentConfig.parse(new String[] {"--state-dir", Files.createTempDirectory("s").toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--vip-cidr", "127.77.0.0/24", "--dataplane", "userspace"}));
        String url = "http://127.0.0.1:" + agent.adminAddress().getPort();
        try (Cli.Registrant ra = new Cli.Registrant("register", "--agent", url, "--service", "web", "--address", "127.0.0.1",
                "--port", "http:" + a.getAddress().getPort(), "--id", "a");
             Cli.Registrant rb = new Cli.Registrant("register", "--agent", url, "--service", "web", "--address", "127.0.0.1",
                     "--port", "http:" + b.getAddress().getPort(), "--id", "b")) {
            ra.awaitRegistered();
            rb.awaitRegistered();
            Await.until("both instances", 2_000, () -> agent.publisher().current().servingInstances("web").size() == 2);
            Service web = agent.publisher().current().service("web").orElseThrow();
            // Both instances registered their own port; the service carries both ports, each reaching its instance.
            Set<String> seen = new HashSet<>();
            for (var port : web.ports()) {
                for (int i = 0; i < 4; i++) {
                    Process curl = new ProcessBuilder("curl", "-sS", "--max-time", "5",
                            "http://" + web.vip().getHostAddress() + ":" + port.number() + "/").redirectErrorStream(true).start();
                    String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                    assertTrue(curl.waitFor(10, TimeUnit.SECONDS));
                    assertEquals(0, curl.exitValue(), out);
                    seen.add(out);
                }
            }
            assertEquals(Set.of("instance-a", "instance-b"), seen);
        } finally {
            agent.close();
            a.stop(0);
            b.stop(0);
        }
    }
}
