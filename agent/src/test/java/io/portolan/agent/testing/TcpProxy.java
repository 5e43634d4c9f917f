package io.portolan.agent.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback TCP relay that a test can cut (closing every connection and refusing new ones) and
 * restore on the same port: the agent loses etcd while etcd itself stays up for other clients. Or
 * freeze: every connection, open or new, stays open and carries nothing, as one to a member cut
 * off by the network does (no reset, no answer).
 */
public final class TcpProxy implements AutoCloseable {
    private final int port;
    private final int target;
    private final InetAddress targetHost;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private volatile ServerSocket server;
    private volatile boolean frozen;

    public TcpProxy(int target) throws IOException {
        this(InetAddress.getLoopbackAddress(), target);
    }

    /** A relay to {@code targetHost:target} (an address in 127.0.0.0/8, e.g. a fleet simulation's etcd member). */
    public TcpProxy(InetAddress targetHost, int target) throws IOException {
        this.target = target;
        this.targetHost = targetHost;
        this.port = EtcdServer.freePort();
        restore();
    }

    public int port() {
        return port;
    }

    public synchronized void restore() throws IOException {
        if (server != null) {
            return;
        }
        ServerSocket s = new ServerSocket();
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        server = s;
        Thread t = new Thread(() -> accept(s), "proxy-accept");
        t.setDaemon(true);
        t.start();
    }

    private void accept(ServerSocket s) {
        while (!s.isClosed()) {
            try {
                Socket c = s.accept();
                Socket u = new Socket(targetHost, target);
                c.setTcpNoDelay(true);
                u.setTcpNoDelay(true);
                synchronized (this) {
                    // A cut between accept() and here must not miss this connection: cut() and this block
                    // exclude each other, and a cut listener is no longer the current one.
                    if (server != s) {
                        closeQuietly(c);
                        closeQuietly(u);
                        continue;
                    }
                    open.add(c);
                    open.add(u);
                }
                pump(c, u);
                pump(u, c);
            } catch (IOException e) {
                // closed or target down: the client sees a reset
            }
        }
    }

    private void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16384];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    while (frozen && !from.isClosed()) {
                        Thread.sleep(20);
                    }
                    out.write(buf, 0, n);
                }
            } catch (IOException | InterruptedException ignored) {
                // cut
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }, "proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    /** Holds every byte, on open connections and new ones, until {@link #thaw()}. */
    public void freeze() {
        frozen = true;
    }

    public void thaw() {
        frozen = false;
    }

    /** Closes the listener and every relayed connection. */
    public synchronized void cut() {
        ServerSocket s = server;
        server = null;
        if (s != null) {
            closeQuietly(s);
        }
        for (Socket c : open) {
            closeQuietly(c);
        }
        open.clear();
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // best effort
        }
    }

    @Override
    public void close() {
        cut();
    }
}
