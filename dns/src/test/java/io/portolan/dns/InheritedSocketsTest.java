package io.portolan.dns;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.channel.epoll.LinuxSocket;
import io.netty.channel.unix.FileDescriptor;
import io.portolan.dns.testing.Dns;
import io.portolan.dns.testing.HeldSockets;
import io.portolan.dns.testing.Processes;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.testing.Snapshots;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.PrintStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.Message;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/**
 * Which inherited socket serves what: a held query waits for the first snapshot; a listen address
 * without an inherited socket (or without one protocol) is bound; sockets that match no listen
 * address, or are no sockets, are left alone with a warning; a blocking one fails the start.
 */
class InheritedSocketsTest {
    static final String Z = "portolan.internal.";

    static ClusterSnapshot snapshot() {
        return Snapshots.builder().vip("web", "10.99.0.10", "http:80/tcp")
                .instance("web", "web-1", "10.0.0.1", "http:8080/tcp").build(3);
    }

    static DnsConfig config(String listen, DnsConfig.UdpIo io) {
        return DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", listen, 53))
                .withUpstreams(List.of(new InetSocketAddress("127.0.0.1", 9))).withUdpSockets(2).withUdpIo(io);
    }

    static Message udp(DatagramSocket s, int port, int timeoutMs) throws Exception {
        byte[] q = Dns.query("web." + Z, Type.A);
        s.send(new DatagramPacket(q, q.length, new InetSocketAddress("127.0.0.1", port)));
        return receive(s, timeoutMs);
    }

    static Message receive(DatagramSocket s, int timeoutMs) throws Exception {
        s.setSoTimeout(timeoutMs);
        DatagramPacket p = new DatagramPacket(new byte[1500], 1500);
        s.receive(p);
        return Dns.parse(Arrays.copyOf(p.getData(), p.getLength()));
    }

    static Message tcp(int port) throws Exception {
        try (java.net.Socket sock = new java.net.Socket("127.0.0.1", port)) {
            sock.setSoTimeout(3000);
            byte[] q = Dns.query("web." + Z, Type.A);
            DataOutputStream out = new DataOutputStream(sock.getOutputStream());
            out.writeShort(q.length);
            out.write(q);
            out.flush();
            DataInputStream in = new DataInputStream(sock.getInputStream());
            byte[] r = new byte[in.readUnsignedShort()];
            in.readFully(r);
            return Dns.parse(r);
        }
    }

    static String vip(Message m) {
        assertEquals(Rcode.NOERROR, m.getRcode(), m.toString());
        return m.getSection(Section.ANSWER).get(0).rdataToString();
    }

    @Test
    void queryBeforeFirstSnapshot_waitsInTheSocket_answeredFromTheSnapshot() throws Exception {
        for (DnsConfig.UdpIo io : DnsConfig.UdpIo.values()) {
            HeldSockets.Pair held = HeldSockets.pair("127.0.0.1");
            try (DnsServer server = DnsServer.start(config("127.0.0.1:" + held.port(), io), new SimpleMeterRegistry(), held.fds());
                 DatagramSocket client = new DatagramSocket()) {
                byte[] q = Dns.query("web." + Z, Type.A);
                client.send(new DatagramPacket(q, q.length, new InetSocketAddress("127.0.0.1", held.port())));
                // Not answered from the empty table (that would be NXDOMAIN): it waits.
                assertThrows(SocketTimeoutException.class, () -> receive(client, 500), io + ": answered before any snapshot");
                server.update(snapshot());
                assertEquals("10.99.0.10", vip(receive(client, 3000)), io.toString());
                assertEquals("10.99.0.10", vip(tcp(held.port())), io.toString());
            }
        }
    }

    @Test
    void noSnapshotWithinTheHold_servedAnyway() throws Exception {
        HeldSockets.Pair held = HeldSockets.pair("127.0.0.1");
        try (DnsServer server = DnsServer.start(config("127.0.0.1:" + held.port(), DnsConfig.UdpIo.BLOCKING),
                new SimpleMeterRegistry(), held.fds());
             DatagramSocket client = new DatagramSocket()) {
            long t0 = System.nanoTime();
            Message m = udp(client, held.port(), (int) DnsServer.INHERITED_HOLD.toMillis() + 3000);
            long waited = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(Rcode.SERVFAIL, m.getRcode(), "the empty table answers after the hold: SERVFAIL, the name may exist");
            assertTrue(waited >= DnsServer.INHERITED_HOLD.toMillis() - 1000, "answered after " + waited + " ms");
        }
    }

    @Test
    void udpInheritedOnly_tcpBoundOnThePort_secondAddressBound() throws Exception {
        LinuxSocket udp = HeldSockets.udp("127.0.0.1", 0);
        int port = udp.localAddress().getPort();
        int other = Processes.freePort();
        try (DnsServer server = DnsServer.start(config("127.0.0.1:" + port + ",127.0.0.1:" + other, DnsConfig.UdpIo.BLOCKING),
                new SimpleMeterRegistry(), List.of(udp.intValue()));
             DatagramSocket client = new DatagramSocket()) {
            server.update(snapshot());
            assertEquals(List.of(new InetSocketAddress("127.0.0.1", port), new InetSocketAddress("127.0.0.1", other)),
                    server.boundAddresses());
            assertEquals("10.99.0.10", vip(udp(client, port, 3000)));
            assertEquals("10.99.0.10", vip(tcp(port)));
            assertEquals("10.99.0.10", vip(udp(client, other, 3000)));
            assertEquals("10.99.0.10", vip(tcp(other)));
        }
    }

    @Test
    void unmatchedAndNonSocketFds_leftAloneWithAWarningNamingFdAndAddress() throws Exception {
        HeldSockets.Pair held = HeldSockets.pair("127.0.0.1");
        LinuxSocket stray = HeldSockets.udp("127.0.0.1", 0);
        int strayPort = stray.localAddress().getPort();
        FileDescriptor[] pipe = FileDescriptor.pipe();
        PrintStream err = System.err;
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
        try (DnsServer server = DnsServer.start(config("127.0.0.1:" + held.port(), DnsConfig.UdpIo.BLOCKING), new SimpleMeterRegistry(),
                List.of(held.udpFd(), held.tcpFd(), stray.intValue(), pipe[0].intValue()));
             DatagramSocket client = new DatagramSocket()) {
            System.setErr(err);
            server.update(snapshot());
            assertEquals("10.99.0.10", vip(udp(client, held.port(), 3000)));
            assertThrows(SocketTimeoutException.class, () -> udp(client, strayPort, 500), "the stray socket is not served");
            String warnings = log.toString(StandardCharsets.UTF_8);
            assertTrue(warnings.contains("inherited socket udp 127.0.0.1:" + strayPort + " (fd " + stray.intValue()
                    + ") matches no --dns-listen address (127.0.0.1:" + held.port() + "): not served"), warnings);
            assertTrue(warnings.contains("inherited fd " + pipe[0].intValue() + " is not a socket"), warnings);
        } finally {
            System.setErr(err);
            HeldSockets.closeQuietly(stray.intValue());
            pipe[0].close();
            pipe[1].close();
        }
    }

    @Test
    void blockingInheritedSocket_startFailsNamingFdAndNonBlocking() throws Exception {
        // The JDK's sockets are in blocking mode, as systemd passes them without NonBlocking=yes.
        try (DatagramChannel blocking = DatagramChannel.open(StandardProtocolFamily.INET)) {
            blocking.bind(new InetSocketAddress("127.0.0.1", 0));
            int port = ((InetSocketAddress) blocking.getLocalAddress()).getPort();
            int fd = HeldSockets.udpFdOfPort(port);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> DnsServer.start(config("127.0.0.1:" + port, DnsConfig.UdpIo.BLOCKING), new SimpleMeterRegistry(), List.of(fd)));
            assertEquals("inherited socket udp 127.0.0.1:" + port + " (fd " + fd + ") for --dns-listen 127.0.0.1:" + port
                    + " is in blocking mode: the event loops need O_NONBLOCK (in the systemd service unit: NonBlocking=yes)",
                    e.getMessage());
            assertTrue(blocking.isOpen());
        }
    }
}
