package io.portolan.agent.fleet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.agent.fleet.Fleet.Container;
import io.portolan.agent.fleet.Fleet.Host;
import io.portolan.agent.fleet.Fleet.Registration;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fleet scenario 3 (seed 001: a service in a container registers an address only its host can
 * reach), OVERLAPPING layout (172.30.0.0/24 on every host, as Docker's default bridge), nftables:
 * every agent runs with {@code --advertise-address UNDERLAY --register-listen GATEWAY:9191}. Two
 * containers with the same private address on hosts 1 and 2, their port 8080 published on host
 * port 32768 of their host, each register themselves from inside the container with
 * {@code portolan register --agent http://GATEWAY:9191 --port http:8080 --host-port http:32768 -- SERVER},
 * knowing no host address. A container on host 3 reaches both by name and by VIP. Containers that
 * try to register another address, take over or remove another container's instance, or delete
 * the service through their host's registration listener get 403 naming the value, and the
 * registry does not change.
 */
class FleetOverlappingRegisterTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int HOST_PORT = 32768;

    @Test
    void sameAddressOnTwoHosts_registeredThroughTheirHosts_reachableByNameAndVip_othersRefused() throws IOException {
        long t0 = System.nanoTime();
        try (Fleet fleet = Fleet.start(Fleet.options().layout(Fleet.Layout.OVERLAPPING).plane(Fleet.Plane.NFTABLES)
                .hostAgentFlags("--advertise-address", "{underlay}", "--register-listen", "{gateway}:9191"))) {
            long started = System.nanoTime();
            Host h1 = fleet.host(1);
            Host h2 = fleet.host(2);
            Host h3 = fleet.host(3);
            Container a = h1.container("weba");
            Container b = h2.container("webb");
            assertEquals(a.address, b.address, "one private address on two hosts");
            h1.publishHostPort(a, HOST_PORT, 8080);
            h2.publishHostPort(b, HOST_PORT, 8080);
            List<Registration> regs = new ArrayList<>();
            for (Container c : List.of(a, b)) {
                List<String> args = new ArrayList<>(List.of("--service", "web", "--port", "http:8080", "--host-port", "http:" + HOST_PORT, "--"));
                args.addAll(Workload.server(fleet, c.address, 8080, c.name));
                regs.add(c.startRegistration(listener(c.host), args.toArray(String[]::new)));
            }
            regs.forEach(Registration::await);
            for (Registration r : regs) {
                // register -- SERVER starts the server after the registration: wait until it listens
                Workload.awaitListening(fleet, r);
            }
            String vip = regs.get(0).vip;
            assertNotNull(vip, "web is a vip-mode service: the CLI names its VIP");
            assertEquals(vip, regs.get(1).vip);

            // stored at each node's advertise address and host port, the service keeping its port
            JsonNode snap = snapshot(h1);
            assertEquals(Set.of("host1 " + h1.underlay + " " + HOST_PORT, "host2 " + h2.underlay + " " + HOST_PORT), instances(snap, "web"),
                    "web's instances: " + snap);
            assertEquals(8080, service(snap, "web").path("ports").get(0).path("port").asInt(), "web's port: " + snap);

            Container client = h3.container("client");
            fleet.await("host3's agent serves both instances of web", Duration.ofSeconds(30),
                    () -> String.valueOf(h3.admin("/v1/services")).replace(" ", "").matches("(?s).*\"name\":\"web\"[^}]*\"serving\":2.*"));
            fleet.await("getent hosts web from host3's container gives the VIP " + vip, Duration.ofSeconds(30),
                    () -> client.getent("hosts", "web").equals(List.of(vip)));
            long converged = System.nanoTime();
            Fleet.Tally byName = client.load("http://web:8080/", 60);
            Fleet.Tally byVip = client.load("http://" + vip + ":8080/", 60);
            System.out.printf("scenario 3: by name %s%nscenario 3: by VIP %s%n", byName, byVip);
            for (Fleet.Tally t : List.of(byName, byVip)) {
                assertEquals(0, t.failures(), t.toString());
                assertEquals(Set.of("weba", "webb"), t.answers().keySet(), t.toString());
            }

            // what the listener refuses; nothing may change
            String idA = regs.get(0).id;
            String idB = regs.get(1).id;
            Container nosy = h1.container("nosy"); // a's neighbour on host1's bridge
            JsonNode before = registryOf(snapshot(h1));
            String hostPorts = ",\"hostPorts\":[{\"name\":\"http\",\"port\":" + HOST_PORT + "}]";
            List<String> problems = new ArrayList<>();
            // another address: a's private address (the neighbour's claim to be a)
            refused(problems, nosy, "POST", "/v1/instances", body("web", a.address, null, ""), "'" + a.address + "'");
            // another host's advertise address with a host port
            refused(problems, nosy, "POST", "/v1/instances", body("web", h2.underlay, null, hostPorts), "'" + h2.underlay + "'");
            // an address outside the subnet
            refused(problems, nosy, "POST", "/v1/instances", body("web", "10.213.0.77", null, ""), "'10.213.0.77'");
            // a's instance taken over with a's own claim (advertise address and host port) under a's id
            refused(problems, nosy, "POST", "/v1/instances", body("web", null, idA, hostPorts), "'" + idA + "'");
            // a's instance refreshed or removed by its neighbour
            refused(problems, nosy, "PUT", "/v1/instances/web/" + idA + "/heartbeat", null, idA);
            refused(problems, nosy, "DELETE", "/v1/instances/web/" + idA, null, idA);
            // the same private address as a, on another host: host2's listener knows only b's instance
            refused(problems, b, "DELETE", "/v1/instances/web/" + idA, null, idA);
            // b's instance from host3, whose listener did not register it
            refused(problems, client, "DELETE", "/v1/instances/web/" + idB, null, idB);
            // the service itself: not on a registration listener
            refused(problems, nosy, "DELETE", "/v1/services/web", null, "/v1/services/web");
            refused(problems, nosy, "GET", "/v1/snapshot", null, "/v1/snapshot");
            assertTrue(problems.isEmpty(), "refusals: " + String.join("\n", problems));

            // a fence after the refusals: once every agent sees it, it sees anything written before it
            Registration fence = h3.register("--service", "fence", "--mode", "dnsrr", "--address", h3.underlay, "--port", "9", "--id", "fence");
            for (Host h : fleet.hosts()) {
                fleet.await(h.node + " sees the fence", Duration.ofSeconds(30),
                        () -> instances(snapshot(h), "fence").equals(Set.of("host3 " + h3.underlay + " 9")));
                assertEquals(before, registryOf(snapshot(h)), h.node + "'s registry (web) after the refusals");
            }
            assertTrue(regs.get(0).alive() && regs.get(1).alive() && fence.alive());
            Fleet.Tally after = client.load("http://web:8080/", 20);
            assertEquals(0, after.failures(), after.toString());
            assertEquals(Set.of("weba", "webb"), after.answers().keySet(), after.toString());

            System.out.printf("fleet scenario 3 (NFTABLES): fleet up %d ms, containers+registrations+convergence %d ms, checks %d ms%n",
                    ms(started - t0), ms(converged - started), ms(System.nanoTime() - converged));
        }
        System.out.printf("fleet scenario 3 (NFTABLES): %d ms with teardown%n", ms(System.nanoTime() - t0));
    }

    static String listener(Host h) {
        return "http://" + h.gateway + ":9191";
    }

    static String body(String service, String address, String id, String extra) {
        return "{\"service\":\"" + service + "\"" + (address == null ? "" : ",\"address\":\"" + address + "\"")
                + (id == null ? "" : ",\"id\":\"" + id + "\"") + ",\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"tcp\"}]"
                + extra + "}";
    }

    /** {@code METHOD path} from {@code from} to its host's registration listener must be 403 with a message naming {@code names}. */
    static void refused(List<String> problems, Container from, String method, String path, String body, String names) {
        List<String> argv = new ArrayList<>(List.of("curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", "-X", method));
        if (body != null) {
            argv.addAll(List.of("-H", "Content-Type: application/json", "--data-binary", body));
        }
        argv.add(listener(from.host) + path);
        Sh.Result r = from.run(argv.toArray(String[]::new));
        List<String> lines = r.lines();
        String code = lines.isEmpty() ? "" : lines.get(lines.size() - 1);
        String message = String.join("\n", lines.subList(0, Math.max(0, lines.size() - 1)));
        String what = from.name + " (" + from.address + " on " + from.host.node + "): " + method + " " + path + (body == null ? "" : " " + body)
                + " -> " + code + " " + message;
        System.out.println("scenario 3 refusal: " + what);
        if (!r.ok() || !code.equals("403") || !message.contains("\"error\"") || !message.contains(names)) {
            problems.add(what + " (wanted 403 naming " + names + ")");
        }
    }

    static JsonNode snapshot(Host h) {
        String s = h.admin("/v1/snapshot");
        if (s == null) {
            throw new AssertionError(h.node + ": GET /v1/snapshot failed");
        }
        try {
            return JSON.readTree(s);
        } catch (IOException e) {
            throw new AssertionError(h.node + ": /v1/snapshot is not JSON: " + s, e);
        }
    }

    /** The snapshot's services and instances of web (what a refused request must not change). */
    static JsonNode registryOf(JsonNode snapshot) {
        var n = JSON.createObjectNode();
        n.set("service", service(snapshot, "web"));
        var l = JSON.createArrayNode();
        for (JsonNode i : snapshot.path("instances")) {
            if (i.path("service").asText().equals("web")) {
                l.add(i);
            }
        }
        n.set("instances", l);
        return n;
    }

    static JsonNode service(JsonNode snapshot, String name) {
        for (JsonNode s : snapshot.path("services")) {
            if (s.path("name").asText().equals(name)) {
                return s;
            }
        }
        return JSON.missingNode();
    }

    /** "NODE ADDRESS PORT" of each instance of {@code service}. */
    static Set<String> instances(JsonNode snapshot, String service) {
        Set<String> s = new TreeSet<>();
        for (JsonNode i : snapshot.path("instances")) {
            if (i.path("service").asText().equals(service)) {
                s.add(i.path("node").asText() + " " + i.path("address").asText() + " " + i.path("ports").get(0).path("port").asInt());
            }
        }
        return s;
    }

    static long ms(long nanos) {
        return nanos / 1_000_000;
    }
}
