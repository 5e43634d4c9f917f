package io.portolan.lb.userspace;

import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** UDP through a VIP: a real DNS server (dnsmasq) behind it, a real DNS client (dig) in front. */
class UdpDnsTest {
    private final List<Process> processes = new ArrayList<>();
    private UserspaceDataPlane plane;

    @AfterEach
    void tearDown() throws Exception {
        if (plane != null) {
            plane.close();
        }
        for (Process p : processes) {
            p.destroy();
            p.waitFor(5, TimeUnit.SECONDS);
        }
    }

    private static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private int dnsmasq(String answer) throws Exception {
        int port = freeUdpPort();
        Process p = new ProcessBuilder("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=" + port,
                "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root",
                "--pid-file=", "--address=/svc.test/" + answer).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        processes.add(p);
        return port;
    }

    private static String dig(InetAddress server, int port, String name) throws Exception {
        Process p = new ProcessBuilder("dig", "@" + server.getHostAddress(), "-p", String.valueOf(port), name, "A",
                "+short", "+time=2", "+tries=1").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(10, TimeUnit.SECONDS);
        return out;
    }

    @Test
    void udp_dnsQueriesThroughVip_answeredByDnsmasqInstances() throws Exception {
        int p1 = dnsmasq("10.1.2.3");
        int p2 = dnsmasq("10.1.2.4");
        // Both instances answer directly before the test starts: an instance still starting would
        // answer with ICMP port unreachable and be ejected, and the spread below would be one-sided.
        for (int port : new int[] {p1, p2}) {
            long ready = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (!dig(InetAddress.getLoopbackAddress(), port, "svc.test").matches("10\\.1\\.2\\.[34]")) {
                assertTrue(System.nanoTime() < ready, "dnsmasq on port " + port + " did not answer");
                Thread.sleep(50);
            }
        }
        plane = Fixtures.plane(Fixtures.fastConfig().udpIdleTimeout(Duration.ofMillis(800)).build());
        InetAddress vip = Fixtures.freshVip();
        Service svc = Fixtures.service("dns", vip, "rr", new Port("dns", 53, Protocol.UDP));
        List<Instance> is = List.of(
                Fixtures.instance("d1", "dns", InetAddress.getLoopbackAddress(), new Port("dns", p1, Protocol.UDP), 100),
                Fixtures.instance("d2", "dns", InetAddress.getLoopbackAddress(), new Port("dns", p2, Protocol.UDP), 100));
        plane.update(Fixtures.snapshot(1, svc, is));
        // dnsmasq may take a moment to bind: the first query retries until answered
        List<String> answers = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (answers.size() < 4 && System.nanoTime() < deadline) {
            String a = dig(vip, 53, "svc.test");
            if (a.matches("10\\.1\\.2\\.[34]")) {
                answers.add(a);
            }
        }
        assertEquals(4, answers.size(), "answers " + answers);
        // each dig uses a new source port, so flows alternate between the two instances
        assertEquals(2, answers.stream().distinct().count(), "answers " + answers);
        Frontend fe = plane.frontend(vip, 53, Protocol.UDP);
        Fixtures.await("idle flows dropped", Duration.ofSeconds(5), () -> fe.active.get() == 0);
    }
}
