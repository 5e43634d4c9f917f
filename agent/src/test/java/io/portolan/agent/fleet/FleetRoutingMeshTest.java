package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import io.portolan.agent.fleet.Fleet.Registration;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fleet scenario 2 (seeds 002 and 004: Swarm's routing mesh), ROUTED layout: {@code vote} is
 * published on port 8080 ({@code --publish 8080:8000}) with instances in containers on hosts 1 and
 * 2; from the outside client on the underlay, {@code http://HOST:8080/} reaches both instances
 * through every host, host 3 (which runs none) included, with no failure. With the nftables plane
 * and the userspace plane (a listener on every local address per published port); ipvs runs the
 * routing mesh in the test VM (ipvs/IpvsMeshScenario, run by IpvsVmTest).
 */
class FleetRoutingMeshTest {

    @ParameterizedTest
    @EnumSource(value = Fleet.Plane.class, names = {"NFTABLES", "USERSPACE"})
    void publishedPort_reachesInstancesOnEveryHost_throughEveryHost(Fleet.Plane plane) {
        long t0 = System.nanoTime();
        try (Fleet fleet = Fleet.start(Fleet.Layout.ROUTED, plane)) {
            long started = System.nanoTime();
            Host h1 = fleet.host(1);
            Host h2 = fleet.host(2);
            Container vote1 = h1.container("vote1");
            Container vote2 = h2.container("vote2");
            vote1.serveHttp(8000);
            vote2.serveHttp(8000);
            List<Registration> regs = List.of(
                    h1.startRegistration("--service", "vote", "--address", vote1.address, "--port", "http:8000", "--id", "vote1",
                            "--publish", "8080:8000"),
                    h2.startRegistration("--service", "vote", "--address", vote2.address, "--port", "http:8000", "--id", "vote2",
                            "--publish", "8080:8000"));
            regs.forEach(Registration::await);
            long registered = System.nanoTime();

            Fleet.Client client = fleet.client();
            for (Host h : fleet.hosts()) {
                fleet.await(h.node + "'s agent serves both instances of vote", Duration.ofSeconds(30),
                        () -> String.valueOf(h.admin("/v1/services")).replace(" ", "").matches("(?s).*\"name\":\"vote\"[^}]*\"serving\":2.*"));
                fleet.await("http://" + h.underlay + ":8080/ answers the outside client", Duration.ofSeconds(30),
                        () -> client.curl("http://" + h.underlay + ":8080/") != null);
            }
            long converged = System.nanoTime();

            List<String> problems = new ArrayList<>();
            for (Host h : fleet.hosts()) {
                Fleet.Tally tally = client.load("http://" + h.underlay + ":8080/", 40);
                System.out.printf("routing mesh through %s: %s%n", h.node, tally);
                if (tally.failures() != 0 || !tally.answers().keySet().equals(Set.of("vote1", "vote2"))) {
                    problems.add(h.node + ": " + tally);
                }
            }
            assertTrue(problems.isEmpty(), "through every host, both instances and no failure: " + problems
                    + "\n--- host3 ruleset\n" + fleet.host(3).ruleset());
            // the published port is the mesh's, not a VIP's: the VIP answers too, from a container
            Container probe = fleet.host(3).container("probe");
            Fleet.Tally viaVip = probe.load("http://vote:8000/", 20);
            assertEquals(0, viaVip.failures(), viaVip.toString());
            assertEquals(Set.of("vote1", "vote2"), viaVip.answers().keySet(), viaVip.toString());

            System.out.printf("fleet scenario 2 (" + plane + "): fleet up %d ms, containers+registrations %d ms, convergence %d ms, checks %d ms%n",
                    ms(started - t0), ms(registered - started), ms(converged - registered), ms(System.nanoTime() - converged));
        }
        System.out.printf("fleet scenario 2 (" + plane + "): %d ms with teardown%n", ms(System.nanoTime() - t0));
    }

    static long ms(long nanos) {
        return nanos / 1_000_000;
    }
}
