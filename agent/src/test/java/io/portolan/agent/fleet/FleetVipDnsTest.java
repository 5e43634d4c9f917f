package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import io.portolan.agent.fleet.Fleet.Registration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fleet scenario 1 (seed 004: Swarm's VIP mode and dnsrr mode across nodes), ROUTED layout, with
 * each data plane: service {@code vote} (vip mode) has instances in containers on hosts 1 and 2,
 * registered with the containers' own addresses through each host's agent; from a container on
 * host 3, {@code vote} resolves to the VIP, and 100 requests to {@code http://vote:8000/} reach both
 * instances with no failure. A dnsrr service {@code board} with instances on hosts 1 and 2
 * resolves to both instance addresses, in varying order; {@code tasks.vote} gives vote's instances.
 */
class FleetVipDnsTest {

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Fleet.Plane.class, names = {"NFTABLES", "USERSPACE"})
    void vipAndDnsrr_acrossHosts(Fleet.Plane plane) {
        long t0 = System.nanoTime();
        try (Fleet fleet = Fleet.start(Fleet.Layout.ROUTED, plane)) {
            long started = System.nanoTime();
            Host h1 = fleet.host(1);
            Host h2 = fleet.host(2);
            Host h3 = fleet.host(3);
            Container vote1 = h1.container("vote1");
            Container vote2 = h2.container("vote2");
            Container board1 = h1.container("board1");
            Container board2 = h2.container("board2");
            Container client = h3.container("client");
            vote1.serveHttp(8000);
            vote2.serveHttp(8000);
            board1.serveHttp(8001);
            board2.serveHttp(8001);

            List<Registration> regs = List.of(
                    h1.startRegistration("--service", "vote", "--address", vote1.address, "--port", "http:8000", "--id", "vote1"),
                    h2.startRegistration("--service", "vote", "--address", vote2.address, "--port", "http:8000", "--id", "vote2"),
                    h1.startRegistration("--service", "board", "--mode", "dnsrr", "--address", board1.address, "--port", "http:8001",
                            "--id", "board1"),
                    h2.startRegistration("--service", "board", "--mode", "dnsrr", "--address", board2.address, "--port", "http:8001",
                            "--id", "board2"));
            regs.forEach(Registration::await);
            String vip = regs.get(0).vip;
            assertNotNull(vip, "vote is a vip-mode service: the CLI names its VIP");
            assertEquals(vip, regs.get(1).vip, "both registrants of vote got the same VIP");
            assertTrue(vip.startsWith("10.216.0."), "VIP from --vip-cidr " + Fleet.VIP_CIDR + ": " + vip);
            long registered = System.nanoTime();

            // host 3 (no instance of its own) converges: its DNS names the VIP, its data plane reaches the instances
            fleet.await("getent hosts vote from host3's container gives the VIP " + vip, Duration.ofSeconds(30),
                    () -> client.getent("hosts", "vote").equals(List.of(vip)));
            fleet.await("host3's agent serves both instances of vote", Duration.ofSeconds(30),
                    () -> String.valueOf(h3.admin("/v1/services")).replace(" ", "").matches("(?s).*\"name\":\"vote\"[^}]*\"serving\":2.*"));
            fleet.await("http://vote:8000/ answers from host3's container", Duration.ofSeconds(30),
                    () -> client.curl("http://vote:8000/") != null);
            long converged = System.nanoTime();

            Fleet.Tally tally = client.load("http://vote:8000/", 100);
            System.out.printf("%s: %s%n", plane, tally);
            assertEquals(0, tally.failures(), "failed requests through the VIP: " + tally);
            assertEquals(Set.of("vote1", "vote2"), tally.answers().keySet(), tally.toString());
            assertTrue(tally.count("vote1") > 0 && tally.count("vote2") > 0, tally.toString());

            // dnsrr: both instance addresses, in varying order; tasks.vote: vote's instances
            Set<String> boards = Set.of(board1.address, board2.address);
            assertEquals(boards, new HashSet<>(client.getent("ahostsv4", "board")), "getent ahostsv4 board");
            Set<List<String>> orders = new HashSet<>();
            for (int i = 0; i < 20; i++) {
                List<String> answer = client.dig(h3.gateway, "board." + Fleet.ZONE);
                assertEquals(boards, new HashSet<>(answer), "dig board: " + answer);
                assertEquals(2, answer.size(), "dig board: " + answer);
                orders.add(answer);
            }
            assertEquals(2, orders.size(), "dnsrr answers in both orders over 20 queries: " + orders);
            assertEquals(Set.of(vote1.address, vote2.address), new HashSet<>(client.getent("ahostsv4", "tasks.vote")),
                    "getent ahostsv4 tasks.vote");
            assertEquals(Set.of(vote1.address, vote2.address), new HashSet<>(client.dig(h3.gateway, "tasks.vote")), "dig tasks.vote");
            // the instances themselves are reachable across hosts by their own addresses (ROUTED)
            assertEquals("board1", client.curl("http://" + board1.address + ":8001/"));
            assertEquals("board2", client.curl("http://" + board2.address + ":8001/"));

            System.out.printf("fleet scenario 1 (%s): fleet up %d ms, containers+registrations %d ms, convergence %d ms, checks %d ms%n",
                    plane, ms(started - t0), ms(registered - started), ms(converged - registered), ms(System.nanoTime() - converged));
        }
        System.out.printf("fleet scenario 1 (%s): %d ms with teardown%n", plane, ms(System.nanoTime() - t0));
    }

    static long ms(long nanos) {
        return nanos / 1_000_000;
    }
}
