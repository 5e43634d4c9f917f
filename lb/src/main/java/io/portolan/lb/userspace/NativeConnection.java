package io.portolan.lb.userspace;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * One proxied TCP connection on a {@link NativeLoop}: the same behaviour as {@link TcpConnection}
 * (instance choice, connect retries across instances and source addresses, breakers, PROXY
 * protocol, half-close, back-pressure, idle and drain), with the loop's own system calls.
 *
 * <p>Relaying: a read lands in the loop's chunk and is written to the other side at once; only what
 * that side cannot take is copied to a {@link NativeLoop.Pending} buffer, and the reading side is
 * not read again until it is written out (back-pressure: at most one chunk per direction is held).
 * A read shorter than the chunk means the socket is drained (its next bytes bring a new edge), so
 * a request costs one read, not a second one that fails with EAGAIN.
 *
 * <p>Side 0 is the client, side 1 the instance. Confined to the loop's thread, except {@link #close}.
 */
final class NativeConnection extends ProxiedConnection implements NativeLoop.Handler {
    private static final Logger log = LoggerFactory.getLogger(NativeConnection.class);
    private static final int CLIENT = 0;
    private static final int UPSTREAM = 1;
    private static final int ETIMEDOUT = 110;
    private static final int CONNECTING = 0;
    private static final int OPEN = 1;
    private static final int CLOSED = 2;
    private static final int READ_UNTIL_AGAIN = NativeIo.EPOLLRDHUP | NativeIo.EPOLLHUP | NativeIo.EPOLLERR;

    private final NativeLoop loop;
    /** The client socket's slot in the loop; the instance socket gets a slot per connect attempt. */
    private final int slot;
    private int upstreamSlot = -1;
    private final int[] fd = {-1, -1};
    private final InetAddress clientAddress;
    private final int clientPort;
    private int state = CONNECTING;
    /**
     * Per side: its input has ended (read returned 0, or the side failed). The other side's output
     * is then shut (our FIN), at once or once its pending bytes are out.
     */
    private final boolean[] inputEnded = new boolean[2];
    /** Per side: bytes for it that it could not take yet; while set, the other side is not read. */
    private final NativeLoop.Pending[] pending = new NativeLoop.Pending[2];
    /** The instance connected to (OPEN), or being connected to (CONNECTING). */
    private Backend backend;
    private int sourcesLeft;
    private long connectStart;
    /** Per side: its relay stopped at its turn's end with bytes maybe left, see {@link NativeLoop#resumeLater}. */
    private final boolean[] resumeWanted = new boolean[2];
    /** The client's events that came while connecting (its bytes wait in the kernel until connected). */
    private int heldEvents;

    private NativeConnection(NativeLoop loop, TcpFrontend fe, int clientFd, InetAddress clientAddress, int clientPort) {
        super(fe);
        this.loop = loop;
        this.fd[CLIENT] = clientFd;
        this.clientAddress = clientAddress;
        this.clientPort = clientPort;
        this.slot = loop.allocate(this);
    }

    /** Takes an accepted socket: registers it, then picks an instance and connects. */
    static void accepted(NativeLoop loop, TcpFrontend fe, int clientFd, InetAddress clientAddress, int clientPort) {
        NativeConnection c = new NativeConnection(loop, fe, clientFd, clientAddress, clientPort);
        int r = loop.register(clientFd, CLIENT, NativeLoop.CONNECTION_EVENTS, c.slot);
        if (r < 0) {
            log.warn("{}: cannot watch a connection from {}: {}", fe, clientAddress, NativeIo.error(r));
            c.end(true);
            return;
        }
        loop.sweeper.add(c);
        try {
            c.connect();
        } catch (RuntimeException e) {
            log.error("{}: cannot proxy a connection from {}", fe, clientAddress, e);
            c.end(true);
        }
    }

    private void connect() {
        Backend b = pick(clientAddress);
        if (b == null) {
            end(true);
            return;
        }
        backend = b;
        connectTo(b, Math.max(1, fe.ctx.sources.size(b.address.getAddress())));
    }

    private void connectTo(Backend b, int sources) {
        sourcesLeft = sources;
        InetAddress src = fe.ctx.sources.next(b.address.getAddress());
        connectStart = System.nanoTime();
        idleSince = connectStart; // the sweeper times the connect from here
        readsSeen = reads;
        int u = NativeIo.connect(b.addressBytes, b.address.getPort(), src == null ? null : src.getAddress(),
                fe.keepIdleSeconds, TcpFrontend.KEEPALIVE_INTERVAL_SECONDS, TcpFrontend.KEEPALIVE_PROBES);
        if (u < 0) {
            connectFailed(u);
            return;
        }
        // A slot of its own per attempt: a late event of an earlier attempt's socket (its file still
        // open in a forked child, say) names a freed slot and is dropped.
        fd[UPSTREAM] = u;
        upstreamSlot = loop.allocate(this);
        int r = loop.register(u, UPSTREAM, NativeLoop.CONNECTION_EVENTS, upstreamSlot);
        if (r < 0) {
            closeUpstream();
            connectFailed(r);
        }
    }

    @Override
    long idleLimitNanos() {
        return state == CONNECTING ? fe.connectTimeoutNanos : fe.idleNanos;
    }

    @Override
    void idleTimeout() {
        if (state == CONNECTING) {
            closeUpstream();
            connectFailed(-ETIMEDOUT);
            if (state == CONNECTING) {
                loop.sweeper.add(this); // trying another instance or source
            }
            return;
        }
        if (state == OPEN) {
            log.debug("{}: closing idle connection from {}", fe, clientAddress);
            end(false);
        }
    }

    private void connectFailed(int negErrno) {
        Backend b = backend;
        b.connectErrors.increment();
        boolean localExhaustion = negErrno == -NativeIo.EADDRNOTAVAIL || negErrno == -NativeIo.EADDRINUSE;
        if (localExhaustion && sourcesLeft > 1) {
            connectTo(b, sourcesLeft - 1); // the next source address has its own ports
            return;
        }
        if (b.breaker != null && !localExhaustion) {
            b.breaker.onError(System.nanoTime() - connectStart, TimeUnit.NANOSECONDS,
                    new IOException("connect to " + b + ": " + NativeIo.error(negErrno)));
        }
        backend = null;
        release(b);
        if (log.isDebugEnabled()) {
            log.debug("{}: connect to {} failed: {}", fe, b, NativeIo.error(negErrno));
        }
        if (mayRetry(b)) {
            connect();
        } else {
            end(true);
        }
    }

    private void connected() {
        Backend b = backend;
        if (b.breaker != null) {
            b.breaker.onSuccess(System.nanoTime() - connectStart, TimeUnit.NANOSECONDS);
        }
        state = OPEN;
        b.total.increment();
        b.links.add(this);
        if (fe.proxyProtocol) {
            byte[] h = ProxyProtocolV2.header(new InetSocketAddress(clientAddress, clientPort), fe.vip);
            NativeLoop.Pending p = loop.takeBuffer();
            if (p == null) {
                end(false);
                return;
            }
            p.buffer.put(0, h);
            p.limit = h.length;
            pending[UPSTREAM] = p;
            flush(UPSTREAM);
        }
        if (state == OPEN && (heldEvents & (NativeIo.EPOLLIN | READ_UNTIL_AGAIN)) != 0) {
            relay(CLIENT, (heldEvents & READ_UNTIL_AGAIN) != 0); // the request came while connecting
        }
    }

    @Override
    public void onEvent(int side, int ev) {
        if (state == CONNECTING) {
            if (side == CLIENT) {
                if ((ev & (NativeIo.EPOLLHUP | NativeIo.EPOLLERR)) != 0) {
                    end(false); // the client is gone before the instance answered
                }
                heldEvents |= ev;
                return;
            }
            if ((ev & (NativeIo.EPOLLERR | NativeIo.EPOLLHUP)) != 0) {
                int err = NativeIo.socketError(fd[UPSTREAM]);
                closeUpstream();
                connectFailed(err > 0 ? -err : -111 /* ECONNREFUSED */);
                return;
            }
            if ((ev & NativeIo.EPOLLOUT) == 0) {
                return;
            }
            connected();
        }
        if (state != OPEN || fd[side] < 0) {
            return; // ended, or this side closed by fail() earlier in the batch
        }
        if ((ev & NativeIo.EPOLLOUT) != 0 && pending[side] != null) {
            flush(side);
            if (state != OPEN) {
                return;
            }
        }
        if ((ev & (NativeIo.EPOLLIN | READ_UNTIL_AGAIN)) != 0) {
            relay(side, (ev & READ_UNTIL_AGAIN) != 0);
        }
        if (state == OPEN && (ev & NativeIo.EPOLLERR) != 0 && fd[side] >= 0) {
            // Reset, and not read above (its input had ended, or its peer was not taking bytes):
            // no further event would come for it.
            fail(side);
        }
    }

    /**
     * Reads {@code from} and writes to the other side until {@code from} is drained, ends, or the
     * other side cannot take more. {@code untilAgain}: do not take a short read for drained (a FIN
     * may be behind it, or the side was not read for a while).
     */
    private void relay(int from, boolean untilAgain) {
        int to = from ^ 1;
        for (int turn = 0; state == OPEN && pending[to] == null && !inputEnded[from]; turn++) {
            if (turn == NativeLoop.CHUNKS_PER_TURN) {
                // Edge-triggered: no new event comes for bytes already there, so come back for them.
                if (!resumeWanted[0] && !resumeWanted[1]) {
                    loop.resumeLater(this);
                }
                resumeWanted[from] = true;
                return;
            }
            int n = NativeIo.read(fd[from], loop.chunkAddress, NativeLoop.CHUNK);
            if (n > 0) {
                reads++;
                (from == CLIENT ? backend.bytesToInstance : backend.bytesFromInstance).add(n);
                int w = NativeIo.write(fd[to], loop.chunkAddress, n);
                if (w == n) {
                    if (n < NativeLoop.CHUNK && !untilAgain) {
                        return;
                    }
                    continue;
                }
                if (w == -NativeIo.EAGAIN) {
                    w = 0;
                } else if (w < 0) {
                    fail(to); // the other side is gone
                    return;
                }
                NativeLoop.Pending p = loop.takeBuffer();
                if (p == null) {
                    end(false);
                    return;
                }
                p.buffer.put(0, loop.chunk, w, n - w);
                p.limit = n - w;
                pending[to] = p;
                return;
            }
            if (n == 0) {
                inputEnded(from);
                return;
            }
            if (n == -NativeIo.EAGAIN) {
                return;
            }
            if (n != -NativeIo.EINTR) {
                fail(from); // reset
                return;
            }
        }
    }

    /** Called by the loop after a batch: goes on relaying the sides whose turn ended with bytes left. */
    void resume() {
        boolean client = resumeWanted[CLIENT];
        boolean upstream = resumeWanted[UPSTREAM];
        resumeWanted[CLIENT] = false;
        resumeWanted[UPSTREAM] = false;
        if (client) {
            relay(CLIENT, true);
        }
        if (upstream) {
            relay(UPSTREAM, true);
        }
    }

    /** {@code side} sent its FIN: carry it to the other side once that side has all the bytes. */
    private void inputEnded(int side) {
        inputEnded[side] = true;
        int to = side ^ 1;
        if (pending[to] == null) {
            shutOutput(to);
        }
    }

    private void shutOutput(int side) {
        if (inputEnded[side]) {
            end(false); // both ways done: nothing more to carry
        } else if (NativeIo.shutdownWrite(fd[side]) < 0) {
            end(false); // ENOTCONN: that side has gone already
        }
    }

    /** Writes what {@code side} could not take before; once all is out, reads its peer again. */
    private void flush(int side) {
        NativeLoop.Pending p = pending[side];
        int len = p.limit - p.position;
        int w = NativeIo.write(fd[side], p.address + p.position, len);
        if (w == -NativeIo.EAGAIN) {
            return;
        }
        if (w < 0) {
            fail(side);
            return;
        }
        p.position += w;
        if (w < len) {
            return;
        }
        pending[side] = null;
        loop.returnBuffer(p);
        if (inputEnded[side ^ 1]) {
            shutOutput(side);
        } else {
            relay(side ^ 1, true);
        }
    }

    /**
     * {@code side} failed (reset, or a write to it failed). Bytes already read from it for the other
     * side still go there, then a FIN; otherwise the connection ends now.
     */
    private void fail(int side) {
        int other = side ^ 1;
        if (pending[other] == null || fd[other] < 0) {
            end(false);
            return;
        }
        if (side == UPSTREAM) {
            closeUpstream();
        } else {
            NativeIo.close(fd[CLIENT]);
            fd[CLIENT] = -1;
        }
        if (pending[side] != null) {
            loop.returnBuffer(pending[side]);
            pending[side] = null;
        }
        inputEnded[side] = true; // after the flush: shutOutput(other), and its next read or FIN ends it
    }

    private void closeUpstream() {
        if (fd[UPSTREAM] >= 0) {
            NativeIo.close(fd[UPSTREAM]);
            fd[UPSTREAM] = -1;
        }
        if (upstreamSlot >= 0) {
            loop.release(upstreamSlot);
            upstreamSlot = -1;
        }
    }

    /** Ends the connection: both sockets closed (the client's with an RST when {@code reset}). */
    private void end(boolean reset) {
        if (state == CLOSED) {
            return;
        }
        boolean wasOpen = state == OPEN;
        state = CLOSED;
        if (fd[CLIENT] >= 0) {
            if (reset) {
                NativeIo.resetClose(fd[CLIENT]);
            } else {
                NativeIo.close(fd[CLIENT]);
            }
        }
        closeUpstream();
        for (int s = 0; s < 2; s++) {
            if (pending[s] != null) {
                loop.returnBuffer(pending[s]);
                pending[s] = null;
            }
        }
        loop.release(slot);
        loop.sweeper.remove(this);
        fe.active.decrementAndGet();
        Backend b = backend;
        if (b != null) {
            if (wasOpen) {
                b.links.remove(this);
            }
            backend = null;
            release(b);
        }
    }

    @Override
    public void close() {
        if (loop.inLoop()) {
            end(false);
        } else {
            loop.execute(() -> end(false));
        }
    }

    @Override
    int clientFd() {
        return fd[CLIENT];
    }

    @Override
    public String toString() {
        return fe + " from " + clientAddress.getHostAddress() + ":" + clientPort;
    }

    /** The peer address accept() left in {@code peer}: [family][port][4 or 16 address bytes]. */
    static InetAddress peerAddress(java.nio.ByteBuffer peer) {
        byte[] a = new byte[peer.getInt(0) == 4 ? 4 : 16];
        peer.get(8, a);
        try {
            return InetAddress.getByAddress(a);
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e); // a 4- or 16-byte address is always valid
        }
    }
}
