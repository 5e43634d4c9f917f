package io.portolan.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.portolan.dns.testing.HeldSockets;
import io.portolan.dns.testing.Processes;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every test of {@link DnsServerTest} with the server on inherited sockets (a UDP and a listening
 * TCP socket bound before the server starts, handed over as fds, as systemd does), UDP configured
 * {@code blocking}: the inherited sockets are served exactly as bound ones.
 */
class DnsServerInheritedTest extends DnsServerTest {
    static HeldSockets.Pair held;

    @Override
    @BeforeAll
    void start() {
        try {
            held = HeldSockets.pair("127.0.0.1");
        } catch (java.io.IOException e) {
            throw new AssertionError(e);
        }
        DnsConfig config = DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", "127.0.0.1:" + held.port(), 53))
                .withUpstreams(List.of(new InetSocketAddress("127.0.0.1", Processes.freePort())))
                .withForwardTimeout(Duration.ofMillis(200))
                .withRecursionClients(DnsConfig.parseNetworks("--dns-recursion-clients", "10.0.0.0/8"))
                .withUdpSockets(2).withUdpIo(udpIo());
        server = DnsServer.start(config, registry, held.fds());
        server.update(snapshot("10.99.0.10"));
        port = server.boundAddresses().get(0).getPort();
    }

    @Test
    void bound_isTheInheritedPort() {
        assertEquals(List.of(new InetSocketAddress("127.0.0.1", held.port())), server.boundAddresses());
    }
}
