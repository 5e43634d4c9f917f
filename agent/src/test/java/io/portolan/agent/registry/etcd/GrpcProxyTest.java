package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.Client;
import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static io.portolan.agent.testing.EtcdClients.bs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Two real agents behind one {@code etcd grpc-proxy} (Debian's etcd: {@code etcd grpc-proxy start}),
 * the way an operator puts agents past one etcd's reach: the proxy serves their listings, leases and
 * watches, and merges their identical watches into one watcher on etcd. Registrations written to etcd
 * itself reach both agents' snapshots (puts and deletes); both nodes' leases work through the proxy;
 * etcd holds fewer watchers than the agents hold watches; and a quiet watch through the proxy is not
 * taken for a silent one. etcd 3.4's proxy answers no progress request, and etcd runs without
 * {@code --experimental-watch-progress-notify-interval}: the agents' host lease keep-alives, on the
 * same connection, are what shows the proxy answering.
 */
class GrpcProxyTest {
    static final String PREFIX = "/portolan/";

    @Test
    void twoAgentsBehindOneGrpcProxy_convergeOnRegistrations_etcdHoldsFewerWatchers() throws Exception {
        Path dir = Files.createTempDirectory("grpc-proxy-test");
        // etcd 3.4's grpc-proxy answers no progress request (recvLoop takes create and cancel only): behind it a
        // quiet watch hears nothing. The agents send none: their lease keep-alives show the proxy alive.
        try (EtcdServer etcd = new EtcdServer();
             Client client = EtcdClients.client(etcd.endpoint());
             GrpcProxy proxy = new GrpcProxy(etcd.clientPort(), dir.resolve("proxy"))) {
            double watchersBefore = metric(etcd.endpoint() + "/metrics", "etcd_debugging_mvcc_watcher_total");
            try (Agent one = start(proxy, 1, dir); Agent two = start(proxy, 2, dir)) {
                List<Agent> agents = List.of(one, two);
                Await.until("both agents loaded through the proxy", 30_000, () -> one.state().loaded() && two.state().loaded());

                put(client, PREFIX + "services/web", JsonCodec.encode(new Service("web", Mode.DNSRR,
                        List.of(new Port("http", 8080, Protocol.TCP)), null, null, null, null)));
                put(client, PREFIX + "instances/web/a", WatchSilenceTest.instance("a", 1));
                put(client, PREFIX + "instances/web/b", WatchSilenceTest.instance("b", 2));
                for (Agent agent : agents) {
                    Await.until("web/a and web/b in both agents' snapshots", 15_000, () -> ids(agent).equals(Set.of("a", "b")));
                }
                client.getKVClient().delete(bs(PREFIX + "instances/web/a")).get(10, TimeUnit.SECONDS);
                for (Agent agent : agents) {
                    Await.until("web/a gone from both agents' snapshots", 15_000, () -> ids(agent).equals(Set.of("b")));
                }
                for (Agent agent : agents) { // each announced its node under a lease granted through the proxy
                    Await.until("both nodes in both snapshots", 15_000,
                            () -> agent.publisher().current().nodes().keySet().equals(Set.of("proxied-1", "proxied-2")));
                }

                double watchers = metric(etcd.endpoint() + "/metrics", "etcd_debugging_mvcc_watcher_total") - watchersBefore;
                System.out.println("etcd watchers for 2 agents behind the proxy: " + watchers);
                assertTrue(watchers >= 1 && watchers < 2, "the proxy merges the two agents' watches of " + PREFIX
                        + " into one watcher on etcd, found " + watchers);

                // quiet for twice the silence bound: the keep-alives through the proxy keep the quiet watches from silence
                Thread.sleep(2 * PrefixWatch.SILENCE_MS + 1_000);
                for (Agent agent : agents) {
                    String m = "http://" + host(agent.adminAddress()) + "/metrics";
                    assertEquals(0.0, metric(m, "portolan_etcd_watch_silences_total"), "no watch taken for silent through the proxy");
                    assertEquals(0.0, metric(m, "portolan_etcd_watch_restarts_total"), "no watch restarted");
                }
                put(client, PREFIX + "instances/web/c", WatchSilenceTest.instance("c", 3));
                for (Agent agent : agents) {
                    Await.until("web/c in both agents' snapshots after the quiet time", 15_000, () -> ids(agent).equals(Set.of("b", "c")));
                }
            }
        }
    }

    private static Agent start(GrpcProxy proxy, int n, Path dir) throws IOException {
        return Agent.start(AgentConfig.parse(new String[] {"--etcd-endpoints", proxy.endpoint(), "--node", "proxied-" + n,
                "--advertise-address", "10.20.0." + n, "--admin-listen", "127.0.0.1:0", "--dns-listen", "none",
                "--dataplane", "none", "--state-dir", Files.createDirectories(dir.resolve("agent-" + n)).toString()}));
    }

    static Set<String> ids(Agent agent) {
        return agent.publisher().current().instances("web").stream().map(Instance::id).collect(Collectors.toSet());
    }

    static void put(Client c, String key, byte[] value) throws Exception {
        c.getKVClient().put(bs(key), EtcdClients.bs(value)).get(10, TimeUnit.SECONDS);
    }

    static String host(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    /** The value of a sample without labels (summed over its label sets otherwise) from a Prometheus text page. */
    static double metric(String url, String name) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
        c.setConnectTimeout(2_000);
        c.setReadTimeout(5_000);
        String text;
        try (InputStream in = c.getInputStream()) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        double sum = 0;
        boolean found = false;
        for (String line : text.split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
                found = true;
            }
        }
        if (!found) {
            throw new AssertionError(name + " not in " + url);
        }
        return sum;
    }

    /** {@code etcd grpc-proxy start} on a free loopback port in front of one etcd. */
    static final class GrpcProxy implements AutoCloseable {
        private final Process process;
        private final int port;

        GrpcProxy(int etcdPort, Path dataDir) throws IOException, InterruptedException {
            this.port = EtcdServer.freePort();
            Files.createDirectories(dataDir);
            String listen = "127.0.0.1:" + port;
            process = new ProcessBuilder("etcd", "grpc-proxy", "start", "--endpoints", "127.0.0.1:" + etcdPort,
                    "--listen-addr", listen, "--advertise-client-url", listen, "--data-dir", dataDir.toString())
                    .redirectErrorStream(true).redirectOutput(dataDir.resolve("proxy.log").toFile()).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (true) {
                if (!process.isAlive()) {
                    throw new IOException("etcd grpc-proxy exited with " + process.exitValue() + ": "
                            + Files.readString(dataDir.resolve("proxy.log")));
                }
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("127.0.0.1", port), 200);
                    return;
                } catch (IOException notYet) {
                    if (System.nanoTime() > deadline) {
                        throw new IOException("etcd grpc-proxy did not listen on " + listen + " within 20 s");
                    }
                    Thread.sleep(50);
                }
            }
        }

        String endpoint() {
            return "http://127.0.0.1:" + port;
        }

        @Override
        public void close() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
