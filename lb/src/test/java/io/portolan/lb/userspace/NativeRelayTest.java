package io.portolan.lb.userspace;

import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the native relay does that the Netty relay does not (see lb/README.md, "Known gaps"): a
 * reset from a client whose input has already ended is seen at once.
 */
class NativeRelayTest {
    private UserspaceDataPlane plane;
    private ServerSocket instanceSocket;

    @AfterEach
    void tearDown() throws IOException {
        if (plane != null) {
            plane.close();
        }
        if (instanceSocket != null) {
            instanceSocket.close();
        }
    }

    @Test
    void native_libraryLoads() {
        assertEquals(null, NativeIo.unavailability(), "the native relay's library loads here (built by Maven with gcc)");
    }

    @Test
    void relay_clientResetsAfterItsFin_instanceSideClosedAtOnce() throws Exception {
        // The client sends its request and FIN, then resets while the instance is still thinking:
        // nothing is left to read from the client, yet the proxy must see the reset and let go.
        java.util.concurrent.CountDownLatch gotEof = new java.util.concurrent.CountDownLatch(1);
        instanceSocket = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            try (Socket in = instanceSocket.accept()) {
                in.getInputStream().readAllBytes();
                gotEof.countDown();
                Thread.sleep(10_000);
            } catch (IOException | InterruptedException ignored) {
                // done
            }
        });
        t.setDaemon(true);
        t.start();
        plane = Fixtures.plane(Fixtures.fastConfig().tcpIo(UserspaceConfig.TcpIo.NATIVE).build());
        InetAddress vip = Fixtures.freshVip();
        Service svc = Fixtures.service("raw", vip, "rr", new Port("raw", 80, null));
        Instance inst = Fixtures.instance("r0", "raw", InetAddress.getLoopbackAddress(),
                new Port("raw", instanceSocket.getLocalPort(), null), 100);
        plane.update(Fixtures.snapshot(1, svc, List.of(inst)));
        Socket s = new Socket();
        s.setSoTimeout(5000);
        s.connect(new InetSocketAddress(vip, 80), 2000);
        s.getOutputStream().write("request".getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        s.shutdownOutput();
        assertTrue(gotEof.await(5, java.util.concurrent.TimeUnit.SECONDS), "the client's FIN reached the instance");
        s.setSoLinger(true, 0);
        s.close(); // RST
        Frontend fe = plane.frontend(vip, 80, io.portolan.proto.Protocol.TCP);
        Fixtures.await("the proxied connection closed", Duration.ofSeconds(3), () -> fe.openConnections().isEmpty());
        assertEquals(0, fe.active.get());
    }

}
