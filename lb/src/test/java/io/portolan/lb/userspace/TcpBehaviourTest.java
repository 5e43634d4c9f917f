package io.portolan.lb.userspace;

import io.netty.buffer.PooledByteBufAllocator;
import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Byte-level behaviour of the TCP relay against raw socket instances. */
class TcpBehaviourTest {
    private final List<AutoCloseable> cleanup = new ArrayList<>();
    /** The data plane of the last {@link #serve}. */
    private UserspaceDataPlane plane;

    /** The TCP relay under test: the native one; {@code NettyTcpBehaviourTest} runs every test here on Netty's. */
    UserspaceConfig.TcpIo tcpIo() {
        return UserspaceConfig.TcpIo.NATIVE;
    }

    private UserspaceConfig.Builder fastConfig() {
        return Fixtures.fastConfig().tcpIo(tcpIo());
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : cleanup) {
            c.close();
        }
    }

    /** A raw TCP instance on 127.0.0.1 running {@code session} per accepted connection on its own thread. */
    private ServerSocket instance(Consumer<Socket> session) throws IOException {
        ServerSocket ss = new ServerSocket(0, 128, InetAddress.getLoopbackAddress());
        cleanup.add(ss);
        Thread t = new Thread(() -> {
            while (!ss.isClosed()) {
                try {
                    Socket s = ss.accept();
                    Thread w = new Thread(() -> {
                        try (s) {
                            session.accept(s);
                        } catch (IOException ignored) {
                            // client went away
                        }
                    });
                    w.setDaemon(true);
                    w.start();
                } catch (IOException e) {
                    return;
                }
            }
        });
        t.setDaemon(true);
        t.start();
        return ss;
    }

    /** An instance that echoes every byte back. */
    private ServerSocket echoInstance() throws IOException {
        return instance(s -> {
            try {
                s.getInputStream().transferTo(s.getOutputStream());
            } catch (IOException ignored) {
                // gone
            }
        });
    }

    private InetAddress serve(UserspaceConfig config, ServerSocket... instances) {
        plane = Fixtures.plane(config);
        cleanup.add(0, plane);
        InetAddress vip = Fixtures.freshVip();
        Service svc = Fixtures.service("raw", vip, "rr", new Port("raw", 80, null));
        List<Instance> is = new ArrayList<>();
        for (int i = 0; i < instances.length; i++) {
            is.add(Fixtures.instance("r" + i, "raw", InetAddress.getLoopbackAddress(),
                    new Port("raw", instances[i].getLocalPort(), null), 100));
        }
        plane.update(Fixtures.snapshot(1, svc, is));
        return vip;
    }

    private static Socket connect(InetAddress vip) throws IOException {
        Socket s = new Socket();
        s.setSoTimeout(5000);
        s.connect(new InetSocketAddress(vip, 80), 2000);
        return s;
    }

    /**
     * Connects to the VIP and asserts the proxy ends the connection within a second. On loopback the
     * proxy's RST can arrive before connect() returns, which ends it all the same.
     */
    private static void assertClosedAtOnce(InetAddress vip) throws IOException {
        long t0 = System.nanoTime();
        Socket s = new Socket();
        try (s) {
            s.setSoTimeout(5000);
            s.connect(new InetSocketAddress(vip, 80), 2000);
            assertTrue(endsAtOnce(s));
        } catch (SocketException resetBeforeConnectReturned) {
            // ended all the same
        }
        assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "closed at once");
    }

    /** Reads until EOF or reset; true if the connection ended within the socket timeout. */
    private static boolean endsAtOnce(Socket s) throws IOException {
        try {
            return s.getInputStream().read() == -1;
        } catch (SocketException reset) {
            return true;
        }
    }

    @Test
    void relay_clientHalfCloses_instanceAnswersAfterEofAndClientReadsIt() throws Exception {
        // The instance reads to EOF, then answers with the byte count: only works if the FIN is carried through.
        ServerSocket inst = instance(s -> {
            try {
                int n = Fixtures.readAll(s.getInputStream()).length;
                s.getOutputStream().write(("got " + n).getBytes(StandardCharsets.US_ASCII));
            } catch (IOException ignored) {
                // gone
            }
        });
        InetAddress vip = serve(fastConfig().build(), inst);
        try (Socket s = connect(vip)) {
            s.getOutputStream().write(new byte[100_000]);
            s.shutdownOutput();
            assertEquals("got 100000", new String(Fixtures.readAll(s.getInputStream()), StandardCharsets.US_ASCII));
        }
    }

    @Test
    void relay_clientStopsReading_proxyMemoryStaysBoundedAndAllBytesArrive() throws Exception {
        int total = 64 << 20;
        ServerSocket inst = instance(s -> {
            try {
                OutputStream out = s.getOutputStream();
                byte[] chunk = new byte[64 * 1024];
                for (int sent = 0; sent < total; sent += chunk.length) {
                    out.write(chunk);
                }
            } catch (IOException ignored) {
                // gone
            }
        });
        InetAddress vip = serve(fastConfig().build(), inst);
        long nativeBuffers = NativeLoop.Pending.CREATED.get();
        try (Socket s = connect(vip)) {
            Thread.sleep(1500); // the instance pushes, the client reads nothing
            long used = PooledByteBufAllocator.DEFAULT.metric().usedDirectMemory()
                    + PooledByteBufAllocator.DEFAULT.metric().usedHeapMemory()
                    + (NativeLoop.Pending.CREATED.get() - nativeBuffers) * NativeLoop.CHUNK;
            assertTrue(used < 24 << 20, "proxy buffers grew to " + used + " bytes while the client did not read");
            assertEquals(total, Fixtures.readAll(s.getInputStream()).length);
        }
    }

    @Test
    void relay_bulkBothWaysAtOnce_everyByteArrivesInOrder() throws Exception {
        ServerSocket echo = echoInstance();
        InetAddress vip = serve(fastConfig().build(), echo);
        byte[] data = new byte[24 << 20];
        new java.util.Random(7).nextBytes(data);
        try (Socket s = connect(vip); Socket small = connect(vip)) {
            s.setSoTimeout(20_000);
            Thread writer = new Thread(() -> {
                try {
                    s.getOutputStream().write(data);
                    s.shutdownOutput();
                } catch (IOException ignored) {
                    // the read side fails the test
                }
            });
            writer.setDaemon(true);
            writer.start();
            // Another connection on the same loops is served while the bulk one streams.
            for (int i = 0; i < 20; i++) {
                small.getOutputStream().write(i);
                assertEquals(i, small.getInputStream().read());
            }
            byte[] back = Fixtures.readAll(s.getInputStream());
            writer.join(5000);
            assertEquals(data.length, back.length, "bytes echoed through the VIP");
            assertTrue(Arrays.equals(data, back), "every byte in order");
        }
    }

    @Test
    void start_vipPortHeldByAnotherReusePortSocket_notServedNotShared() throws Exception {
        // Another process of ours (a stale agent, say) holding VIP:port with SO_REUSEPORT: the data
        // plane must refuse the port, not join its group and split the connections with it.
        InetAddress vip = Fixtures.freshVip();
        try (java.nio.channels.ServerSocketChannel squatter = java.nio.channels.ServerSocketChannel.open()) {
            squatter.setOption(java.net.StandardSocketOptions.SO_REUSEPORT, true);
            squatter.bind(new InetSocketAddress(vip, 80));
            plane = Fixtures.plane(fastConfig().build());
            cleanup.add(0, plane);
            Service svc = Fixtures.service("raw", vip, "rr", new Port("raw", 80, null));
            plane.update(Fixtures.snapshot(1, svc, List.of(Fixtures.instance("r0", "raw", InetAddress.getLoopbackAddress(),
                    new Port("raw", 9, null), 100))));
            assertEquals(null, plane.frontend(vip, 80, io.portolan.proto.Protocol.TCP), "VIP:port not served");
        }
    }

    @Test
    void accept_pastMaxConnections_newConnectionClosedAtOnce() throws Exception {
        ServerSocket inst = echoInstance();
        InetAddress vip = serve(fastConfig().maxConnections(3).build(), inst);
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Socket s = connect(vip);
                held.add(s);
                s.getOutputStream().write('x');
                assertEquals('x', s.getInputStream().read());
            }
            long t0 = System.nanoTime();
            Socket extra = new Socket();
            try (extra) {
                extra.setSoTimeout(5000);
                extra.connect(new InetSocketAddress(vip, 80), 2000);
                extra.getOutputStream().write('y');
                assertTrue(endsAtOnce(extra));
            } catch (SocketException resetDuringConnectOrWrite) {
                // The proxy resets right after the accept: the RST may beat connect() or the write.
            }
            assertTrue(System.nanoTime() - t0 < 1_000_000_000L, "refused at once");
            held.remove(0).close();
            Thread.sleep(200);
            try (Socket again = connect(vip)) {
                again.getOutputStream().write('z');
                assertEquals('z', again.getInputStream().read());
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }

    @Test
    void accept_noServingInstance_clientClosedAtOnce() throws Exception {
        InetAddress vip = serve(fastConfig().build());
        assertClosedAtOnce(vip);
    }

    @Test
    void connect_allInstancesDown_clientClosedAtOnceAfterRetries() throws Exception {
        ServerSocket dead = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        dead.close(); // nothing listens on its port: connects are refused
        InetAddress vip = serve(fastConfig().build(), dead, dead);
        assertClosedAtOnce(vip);
    }

    @Test
    void connect_instanceNeverAnswers_nextInstanceAfterConnectTimeout() throws Exception {
        // A listener that never accepts, its accept queue full: the kernel drops further SYNs, so a
        // connect to it neither succeeds nor fails until the proxy's connect timeout.
        ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        cleanup.add(silent);
        List<java.nio.channels.SocketChannel> fill = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open();
            ch.configureBlocking(false);
            ch.connect(silent.getLocalSocketAddress());
            fill.add(ch);
            cleanup.add(ch);
        }
        ServerSocket echo = echoInstance();
        Duration timeout = Duration.ofMillis(400);
        InetAddress vip = serve(fastConfig().connectTimeout(timeout).eject(UserspaceConfig.Eject.DEFAULT).build(), silent, echo);
        long slowest = 0;
        for (int i = 0; i < 4; i++) {
            long t0 = System.nanoTime();
            try (Socket s = connect(vip)) {
                s.getOutputStream().write('a' + i);
                assertEquals('a' + i, s.getInputStream().read(), "connection " + i + " reached the echo instance");
            }
            slowest = Math.max(slowest, System.nanoTime() - t0);
        }
        // Round robin sent one of them to the silent instance first: it waited out the timeout.
        assertTrue(slowest >= timeout.toNanos(), "one connection waited for the connect timeout, slowest " + slowest / 1_000_000 + " ms");
        assertTrue(slowest < timeout.toNanos() + 2_000_000_000L, "and no longer than it and a tick or two: " + slowest / 1_000_000 + " ms");
    }

    @Test
    void accept_clientSocket_keepAliveAndNoDelayAsConfigured() throws Exception {
        // Keep-alive is set on the listening socket and inherited by accepted ones: check the kernel's view.
        ServerSocket inst = echoInstance();
        InetAddress vip = serve(fastConfig().keepAliveIdle(Duration.ofSeconds(77)).build(), inst);
        try (Socket s = connect(vip)) {
            s.getOutputStream().write('a');
            assertEquals('a', s.getInputStream().read());
            List<Link> open = plane.frontend(vip, 80, io.portolan.proto.Protocol.TCP).openConnections();
            assertEquals(1, open.size());
            assertEquals(tcpIo() == UserspaceConfig.TcpIo.NATIVE ? NativeConnection.class : TcpConnection.class,
                    open.get(0).getClass(), "the relay asked for");
            int fd = ((ProxiedConnection) open.get(0)).clientFd();
            assertEquals(1, NativeIo.getIntOption(fd, NativeIo.SOL_SOCKET, NativeIo.SO_KEEPALIVE));
            assertEquals(1, NativeIo.getIntOption(fd, NativeIo.IPPROTO_TCP, NativeIo.TCP_NODELAY));
            assertEquals(77, NativeIo.getIntOption(fd, NativeIo.IPPROTO_TCP, NativeIo.TCP_KEEPIDLE));
            assertEquals(TcpFrontend.KEEPALIVE_INTERVAL_SECONDS, NativeIo.getIntOption(fd, NativeIo.IPPROTO_TCP, NativeIo.TCP_KEEPINTVL));
            assertEquals(TcpFrontend.KEEPALIVE_PROBES, NativeIo.getIntOption(fd, NativeIo.IPPROTO_TCP, NativeIo.TCP_KEEPCNT));
        }
    }

    @Test
    void connect_refusedByEveryInstance_noUpstreamSocketLeftOpen() throws Exception {
        ServerSocket dead = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        dead.close();
        InetAddress vip = serve(fastConfig().build(), dead, dead);
        assertClosedAtOnce(vip); // warms up: event loops and their descriptors exist
        long before = openFiles();
        for (int i = 0; i < 50; i++) { // 3 failed connects each
            assertClosedAtOnce(vip);
        }
        Fixtures.await("upstream sockets closed", Duration.ofSeconds(5), () -> openFiles() < before + 20);
    }

    private static long openFiles() {
        try (var l = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            return l.count();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** A VIP in front of one echo instance, the service's idle timeout {@code idle}. */
    private InetAddress echoWithIdleTimeout(Duration idle) throws Exception {
        ServerSocket inst = echoInstance();
        return serve(fastConfig().serviceIdleTimeouts(Map.of("raw", idle)).build(), inst);
    }

    @Test
    void relay_idleLongerThanServiceIdleTimeout_connectionClosed() throws Exception {
        InetAddress vip = echoWithIdleTimeout(Duration.ofMillis(700));
        try (Socket s = connect(vip)) {
            s.getOutputStream().write('a');
            assertEquals('a', s.getInputStream().read());
            long t0 = System.nanoTime();
            assertTrue(endsAtOnce(s));
            long waited = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(waited > 400 && waited < 3000, "closed after " + waited + " ms");
        }
    }

    @Test
    void relay_trafficMoreOftenThanIdleTimeout_staysOpenThenClosesOnceQuiet() throws Exception {
        InetAddress vip = echoWithIdleTimeout(Duration.ofMillis(700));
        try (Socket s = connect(vip)) {
            // 2.4 s of echoes, one every 300 ms: more than three idle timeouts, never idle for one.
            for (int i = 0; i < 8; i++) {
                s.getOutputStream().write('a' + i);
                assertEquals('a' + i, s.getInputStream().read(), "echo " + i + " through the open connection");
                Thread.sleep(300);
            }
            long t0 = System.nanoTime();
            assertTrue(endsAtOnce(s));
            long waited = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(waited > 100 && waited < 3000, "closed " + waited + " ms after the last echo");
        }
    }

    @Test
    void connect_proxyProtocolService_instanceReadsV2HeaderWithClientAddress() throws Exception {
        AtomicReference<byte[]> header = new AtomicReference<>();
        ServerSocket inst = instance(s -> {
            try {
                byte[] h = new byte[28];
                new DataInputStream(s.getInputStream()).readFully(h);
                header.set(h);
                s.getOutputStream().write("ok".getBytes(StandardCharsets.US_ASCII));
            } catch (IOException ignored) {
                // gone
            }
        });
        InetAddress vip = serve(fastConfig().proxyProtocolServices(Set.of("raw")).build(), inst);
        try (Socket s = connect(vip)) {
            InputStream in = s.getInputStream();
            assertEquals('o', in.read());
            byte[] h = header.get();
            assertArrayEquals(ProxyProtocolV2.SIGNATURE, Arrays.copyOf(h, 12));
            ByteBuffer b = ByteBuffer.wrap(h, 12, 16);
            assertEquals(0x21, b.get() & 0xff);
            assertEquals(0x11, b.get() & 0xff);
            assertEquals(12, b.getShort());
            byte[] src = new byte[4];
            byte[] dst = new byte[4];
            b.get(src).get(dst);
            assertEquals(s.getLocalAddress(), InetAddress.getByAddress(src));
            assertEquals(vip, InetAddress.getByAddress(dst));
            assertEquals(s.getLocalPort(), b.getShort() & 0xffff);
            assertEquals(80, b.getShort() & 0xffff);
        }
    }
}
