package io.portolan.agent;

import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Registrant processes straight to a real etcd; the agent sees them come and go. */
class EtcdRegistrationTest {
    static final int TTL = 3;
    static EtcdServer etcd;
    static Agent agent;

    @BeforeAll
    static void up() throws Exception {
        etcd = new EtcdServer();
        Path state = Files.createTempDirectory("agent-state");
        agent = Agent.start(AgentConfig.parse(new String[] {"--dataplane", "none", "--etcd-endpoints", etcd.endpoint().toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "none", "--state-dir", state.toString(), "--node", "test-node"}));
        Await.until("agent loaded", 10_000, () -> agent.state().loaded());
    }

    @AfterAll
    static void down() throws Exception {
        agent.close();
        etcd.close();
    }

    static boolean present(String id) {
        ClusterSnapshot s = agent.publisher().current();
        return s.instances("web").stream().anyMatch(i -> i.id().equals(id));
    }

    @Test
    void registerKillDeregisterTerm_agentFollowsWithinBounds() throws Exception {
        List<Cli.Registrant> regs = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        try {
            for (int n = 1; n <= 3; n++) {
                Cli.Registrant r = new Cli.Registrant("register", "--etcd-endpoints", etcd.endpoint().toString(),
                        "--service", "web", "--address", "10.0.0." + n, "--port", "http:8080", "--ttl", String.valueOf(TTL),
                        "--drain", "1s", "--", "sleep", "300");
                regs.add(r);
            }
            for (Cli.Registrant r : regs) {
                String id = r.awaitRegistered();
                ids.add(id);
                long ms = Await.until("instance " + id + " in the agent's snapshot", 1_000, () -> present(id));
                System.out.println("appeared in " + ms + " ms");
            }
            ClusterSnapshot s = agent.publisher().current();
            assertEquals(3, s.instances("web").size());
            assertTrue(s.service("web").orElseThrow().vip() != null, "a vip-mode service has a VIP");

            // kill -9 the first registrant: its lease expires, the instance goes within TTL + 2 s.
            Cli.Registrant killed = regs.get(0);
            // The command starts once the instance is registered: wait for it before the kill.
            Await.until("the registrant ran its command", 5_000, () -> killed.process.descendants().findAny().isPresent());
            List<ProcessHandle> orphans = killed.process.descendants().toList();
            killed.process.destroyForcibly();
            killed.process.waitFor(5, TimeUnit.SECONDS);
            long gone = Await.until("killed registrant's instance removed", (TTL + 2) * 1000L, () -> !present(ids.get(0)));
            System.out.println("kill -9 → removed in " + gone + " ms");
            // ... and its command does not run on unregistered: setpriv --pdeathsig TERM
            assertTrue(!orphans.isEmpty(), "the registrant ran its command");
            Await.until("the killed registrant's command stopped", 2_000, () -> orphans.stream().noneMatch(ProcessHandle::isAlive));
            orphans.forEach(ProcessHandle::destroyForcibly);

            // deregister the second from another process: gone within 1 s of the command returning.
            Cli.Result d = Cli.run("deregister", "--etcd-endpoints", etcd.endpoint().toString(), "--service", "web", "--id", ids.get(1));
            assertEquals(0, d.code(), d.output());
            Await.until("deregistered instance removed", 1_000, () -> !present(ids.get(1)));

            // SIGTERM the third: it deregisters first, drains, then the child gets the signal.
            Cli.Registrant term = regs.get(2);
            term.process.destroy();
            Await.until("SIGTERM'd registrant deregistered before its child stops", 1_000, () -> !present(ids.get(2)));
            assertTrue(term.process.isAlive(), "the wrapper is still draining when the instance is already gone");
            assertTrue(term.process.waitFor(10, TimeUnit.SECONDS));
            assertEquals(128 + 15, term.process.exitValue(), "exit code is the child's (sleep killed by SIGTERM)");
        } finally {
            for (Cli.Registrant r : regs) {
                r.close();
            }
        }
    }

    @Test
    void childExit_deregisters_andExitCodePassesThrough() throws Exception {
        try (Cli.Registrant r = new Cli.Registrant("register", "--etcd-endpoints", etcd.endpoint().toString(),
                "--service", "batch", "--address", "10.0.1.1", "--port", "9000", "--mode", "dnsrr", "--", "sh", "-c", "sleep 1; exit 7")) {
            String id = r.awaitRegistered();
            Await.until("batch instance present", 1_000,
                    () -> agent.publisher().current().instances("batch").stream().map(Instance::id).anyMatch(id::equals));
            assertTrue(r.process.waitFor(10, TimeUnit.SECONDS));
            assertEquals(7, r.process.exitValue());
            Await.until("batch instance removed after the child exited", 1_000,
                    () -> agent.publisher().current().instances("batch").isEmpty());
            assertFalse(agent.publisher().current().service("batch").isEmpty(), "the service definition stays");
            assertEquals(null, agent.publisher().current().service("batch").get().vip(), "dnsrr has no VIP");
        }
    }

    @Test
    void leaseRevokedBehindRegistrantsBack_keyPutAgainUnderNewLease() throws Exception {
        try (Cli.Registrant r = new Cli.Registrant("register", "--etcd-endpoints", etcd.endpoint().toString(),
                "--service", "phoenix", "--address", "10.0.2.1", "--port", "80", "--ttl", "3", "--id", "p1", "--log-level", "info");
             io.etcd.jetcd.Client c = io.portolan.agent.testing.EtcdClients.client(etcd.endpoint())) {
            r.awaitRegistered();
            var key = io.portolan.agent.testing.EtcdClients.bs("/portolan/instances/phoenix/p1");
            long lease = c.getKVClient().get(key).get(5, TimeUnit.SECONDS).getKvs().get(0).getLease();
            c.getLeaseClient().revoke(lease).get(5, TimeUnit.SECONDS); // as if the lease expired during an outage
            Await.until("revoked lease took the key with it", 2_000,
                    () -> agent.publisher().current().instances("phoenix").isEmpty());
            long back = Await.until("registrant granted a new lease and put the key again", 10_000,
                    () -> !agent.publisher().current().instances("phoenix").isEmpty());
            System.out.println("re-registered " + back + " ms after the lease was lost");
            var kv = c.getKVClient().get(key).get(5, TimeUnit.SECONDS).getKvs().get(0);
            assertTrue(kv.getLease() != 0 && kv.getLease() != lease, "the key hangs on a new lease");
        }
    }
}
