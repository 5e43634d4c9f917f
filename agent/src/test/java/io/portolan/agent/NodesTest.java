package io.portolan.agent;

import io.etcd.jetcd.Client;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Node;
import io.portolan.proto.Validate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.util.Map;

import static io.portolan.agent.testing.EtcdClients.bs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Every agent announces its node and advertise address under its lease; every agent's snapshot lists the nodes that are up. */
class NodesTest {
    static EtcdServer etcd;
    static Client client;

    @BeforeAll
    static void up() throws Exception {
        etcd = new EtcdServer();
        client = EtcdClients.client(etcd.endpoint());
    }

    @AfterAll
    static void down() throws Exception {
        client.close();
        etcd.close();
    }

    static Agent agent(String node, String advertise) throws Exception {
        Agent a = Agent.start(AgentConfig.parse(new String[]{"--dataplane", "none", "--etcd-endpoints", etcd.endpoint().toString(), "--node", node,
                "--advertise-address", advertise, "--admin-listen", "127.0.0.1:0", "--dns-listen", "none",
                "--state-dir", Files.createTempDirectory("nodes").toString()}));
        Await.until("loaded", 10_000, () -> a.state().loaded());
        return a;
    }

    @Test
    void twoAgents_seeEachOther_andAStoppedOneLeaves_aBadNodeValueIsSkipped() throws Exception {
        try (Agent a = agent("host-a", "10.213.0.1")) {
            Agent b = agent("host-b", "10.213.0.2");
            try {
                Map<String, Node> want = Map.of("host-a", new Node("host-a", Validate.address("t", "10.213.0.1")),
                        "host-b", new Node("host-b", Validate.address("t", "10.213.0.2")));
                Await.until("a sees both", 10_000, () -> a.publisher().current().nodes().equals(want));
                Await.until("b sees both", 10_000, () -> b.publisher().current().nodes().equals(want));

                client.getKVClient().put(bs("/portolan/nodes/host-x"), bs("{\"schema\":1,\"name\":\"host-x\",\"address\":\"not-an-ip\"}")).get();
                client.getKVClient().put(bs("/portolan/services/probe"),
                        bs("{\"schema\":1,\"name\":\"probe\",\"mode\":\"dnsrr\",\"ports\":[{\"port\":1}]}")).get();
                Await.until("later keys applied", 10_000, () -> a.publisher().current().service("probe").isPresent());
                assertEquals(want, a.publisher().current().nodes(), "the bad node value is skipped, the others served");
            } finally {
                b.close();
            }
            Await.until("b left a's snapshot", 10_000, () -> !a.publisher().current().nodes().containsKey("host-b"));
            ClusterSnapshot s = a.publisher().current();
            assertEquals(1, s.nodes().size());
            assertFalse(s.nodes().containsKey("host-x"));
        }
    }
}
