package io.portolan.agent.registry.etcd;

import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdServer;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What an idle agent costs etcd, read from etcd's own metrics and the kernel's socket table: one
 * connection, one watch stream with one watcher, and nothing sent on it but the host lease's
 * keep-alive every TTL/3 (no progress requests, no unary calls: no polling).
 */
class IdleAgentTest {

    @Test
    void idleAgent_oneConnection_oneWatchStream_onlyTheLeaseKeepAlives() throws Exception {
        try (EtcdServer etcd = new EtcdServer();
             Agent agent = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--etcd-endpoints", etcd.endpoint().toString(),
                     "--node", "idle-host", "--admin-listen", "127.0.0.1:0", "--dns-listen", "none",
                     "--state-dir", Files.createTempDirectory("idle-agent").toString()}))) {
            Await.until("agent loaded", 15_000, () -> agent.state().loaded());
            Await.until("the node's key under the host lease", 15_000, () -> agent.publisher().current().nodes().containsKey("idle-host"));
            Thread.sleep(2_000); // past the start's calls

            String before = etcd.metrics();
            long window = 10_000;
            Thread.sleep(window);
            String after = etcd.metrics();

            assertEquals(1, established(etcd.clientPort()), "TCP connections from this JVM (the agent: the test makes no client of its own) to etcd");
            assertEquals(1, gauge(after, "etcd_debugging_mvcc_watch_stream_total"), "watch streams");
            assertEquals(1, gauge(after, "etcd_debugging_mvcc_watcher_total"), "watchers");
            double watchMessages = delta(before, after, "grpc_server_msg_received_total", "grpc_method=\"Watch\"");
            assertEquals(0, watchMessages, "messages on the watch stream in " + window + " ms (progress requests)");
            double unary = delta(before, after, "grpc_server_started_total", "grpc_type=\"unary\"");
            assertEquals(0, unary, "unary calls in " + window + " ms");
            double keepAlives = delta(before, after, "grpc_server_started_total", "grpc_method=\"LeaseKeepAlive\"");
            // the host lease's TTL is 10 s: a keep-alive every 3.3 s
            assertTrue(keepAlives >= 2 && keepAlives <= 4, "lease keep-alives in " + window + " ms: " + keepAlives);
            System.out.printf("idle agent, %d ms: 1 connection, 1 watch stream, %.0f watch messages, %.0f unary calls, %.0f keep-alives%n",
                    window, watchMessages, unary, keepAlives);
        }
    }

    /** This process's established TCP connections to 127.0.0.1:port, from the socket table (argv only). */
    static int established(int port) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(List.of("ss", "-Htnp", "state", "established", "dst", "127.0.0.1:" + port))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        String mine = "pid=" + ProcessHandle.current().pid() + ",";
        return (int) out.lines().filter(l -> l.contains(mine)).count();
    }

    /** A gauge without labels. */
    static double gauge(String metrics, String name) {
        return sum(metrics, name, "");
    }

    /** The sum of every series of {@code name} whose labels contain {@code label}. */
    static double sum(String metrics, String name, String label) {
        double s = 0;
        boolean found = false;
        for (String line : metrics.split("\n")) {
            if ((line.startsWith(name + "{") || line.startsWith(name + " ")) && line.contains(label)) {
                s += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1).trim());
                found = true;
            }
        }
        assertTrue(found || !label.isEmpty(), "no metric " + name + " in etcd's /metrics");
        return s;
    }

    static double delta(String before, String after, String name, String label) {
        return sum(after, name, label) - sum(before, name, label);
    }
}
