package io.portolan.lb.userspace;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.AbstractEpollStreamChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.channel.socket.SocketChannelConfig;
import io.netty.channel.unix.Socket;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One proxied TCP connection: picks an instance, connects (trying other instances and other source
 * addresses on failure, before any byte went out), then relays both ways with back-pressure
 * (auto-read off while the other side cannot take more) and carries half-closes through. Both
 * channels live on the client's event loop, so no state here needs a lock.
 */
final class TcpConnection extends ProxiedConnection {
    private static final Logger log = LoggerFactory.getLogger(TcpConnection.class);

    final Channel client;
    final Relay clientRelay;
    private Channel upstream;
    private Backend backend;
    private boolean clientInputShut;
    private boolean upstreamInputShut;
    /** Bytes the client sent before the upstream connect completed (epoll reads them on a FIN even with auto-read off). */
    private List<Object> early;

    TcpConnection(TcpFrontend fe, Channel client) {
        super(fe);
        this.client = client;
        this.clientRelay = new Relay(true);
    }

    /** Closes with an RST so the client learns at once that nothing is behind the VIP. */
    static void reset(Channel ch) {
        try {
            ch.config().setOption(ChannelOption.SO_LINGER, 0);
        } catch (RuntimeException ignored) {
            // closed already
        }
        ch.close();
    }

    void connect() {
        InetAddress clientAddr = ((InetSocketAddress) client.remoteAddress()).getAddress();
        Backend b = pick(clientAddr);
        if (b == null) {
            reset(client);
            return;
        }
        int sources = fe.ctx.sources.size(b.address.getAddress());
        connectTo(b, Math.max(1, sources));
    }

    private void connectTo(Backend b, int sourcesLeft) {
        InetAddress src = fe.ctx.sources.next(b.address.getAddress());
        long t0 = System.nanoTime();
        Channel ch;
        try {
            ch = fe.newUpstream(b.address.getAddress(), src);
        } catch (RuntimeException e) { // no socket (file descriptors exhausted) or an option refused
            connectFailed(b, e, sourcesLeft, t0);
            return;
        }
        ch.pipeline().addLast(new Relay(false));
        // Registers at once: this runs on the client's event loop, which the upstream shares.
        client.eventLoop().register(ch).addListener((ChannelFutureListener) rf -> {
            if (!rf.isSuccess()) {
                ch.unsafe().closeForcibly();
                connectFailed(b, rf.cause(), sourcesLeft, t0);
                return;
            }
            ChannelFuture f = src == null ? ch.connect(b.address) : ch.connect(b.address, new InetSocketAddress(src, 0));
            f.addListener((ChannelFutureListener) cf -> {
                if (cf.isSuccess()) {
                    connected(b, cf.channel(), t0);
                } else {
                    cf.channel().close();
                    connectFailed(b, cf.cause(), sourcesLeft, t0);
                }
            });
        });
    }

    private void connected(Backend b, Channel ch, long t0) {
        if (b.breaker != null) {
            b.breaker.onSuccess(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
        }
        if (!client.isActive()) {
            ch.close();
            release(b);
            return;
        }
        backend = b;
        upstream = ch;
        b.total.increment();
        b.links.add(this);
        client.closeFuture().addListener(f -> {
            b.links.remove(this);
            release(b);
        });
        if (fe.proxyProtocol) {
            ch.write(ProxyProtocolV2.header(ch.alloc(), (InetSocketAddress) client.remoteAddress(),
                    (InetSocketAddress) client.localAddress()), ch.voidPromise());
        }
        if (early != null) {
            for (Object m : early) {
                if (m instanceof ByteBuf buf) {
                    b.bytesToInstance.add(buf.readableBytes());
                }
                ch.write(m, ch.voidPromise());
            }
            early = null;
        }
        ch.flush();
        if (clientInputShut) {
            shutdownOutputAfterFlush(ch);
        }
        if (fe.ctx.splice) {
            AbstractEpollStreamChannel c = (AbstractEpollStreamChannel) client;
            AbstractEpollStreamChannel u = (AbstractEpollStreamChannel) ch;
            c.spliceTo(u, Integer.MAX_VALUE).addListener(this::spliceEnded);
            u.spliceTo(c, Integer.MAX_VALUE).addListener(this::spliceEnded);
        }
        client.config().setAutoRead(true);
        ch.config().setAutoRead(true);
    }

    private void spliceEnded(io.netty.util.concurrent.Future<? super Void> f) {
        if (!f.isSuccess()) {
            closeBoth();
        }
    }

    private void connectFailed(Backend b, Throwable cause, int sourcesLeft, long t0) {
        b.connectErrors.increment();
        boolean localExhaustion = isLocalExhaustion(cause);
        if (localExhaustion && sourcesLeft > 1 && client.isActive()) {
            connectTo(b, sourcesLeft - 1); // the next source address has its own ports
            return;
        }
        if (b.breaker != null && !localExhaustion) {
            b.breaker.onError(System.nanoTime() - t0, TimeUnit.NANOSECONDS, cause);
        }
        release(b);
        log.debug("{}: connect to {} failed: {}", fe, b, cause.toString());
        if (!client.isActive()) {
            return;
        }
        if (mayRetry(b)) {
            connect();
        } else {
            reset(client);
        }
    }

    static boolean isLocalExhaustion(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            String m = c.getMessage();
            if (m != null && (m.contains("Cannot assign requested address") || m.contains("Address already in use"))) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() {
        client.close();
    }

    @Override
    int clientFd() {
        return ((io.netty.channel.unix.UnixChannel) client).fd().intValue();
    }

    /** Called by {@link IdleSweeper}: nothing read either way for the service's idle timeout. */
    @Override
    void idleTimeout() {
        log.debug("{}: closing idle connection from {}", fe, client.remoteAddress());
        closeBoth();
    }

    private void closeBoth() {
        flushAndClose(client);
        if (upstream != null) {
            flushAndClose(upstream);
        }
    }

    /**
     * Carries a FIN through: shuts {@code ch}'s output once the bytes queued for it are written.
     * From then on nothing more goes to that side, so its own FIN may close it outright: half-closure
     * is turned off for it, which spares Netty's shutdown(SHUT_RD) (failing with ENOTCONN, an
     * exception with its stack trace, once the peer has closed) and an epoll_ctl.
     */
    private static void shutdownOutputAfterFlush(Channel ch) {
        ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(SHUTDOWN_OUTPUT);
    }

    private static final ChannelFutureListener SHUTDOWN_OUTPUT = f -> {
        Channel ch = f.channel();
        if (!ch.isActive()) {
            return;
        }
        if (ch instanceof AbstractEpollStreamChannel e && e.fd() instanceof Socket s) {
            // The socket's own shutdown: Netty's shutdownOutput() builds a ChannelOutputShutdownException
            // (stack trace included) for its outbound buffer every time, and nothing is queued here.
            try {
                s.shutdown(false, true);
            } catch (IOException | RuntimeException ex) {
                // ENOTCONN (NotYetConnectedException, unchecked) once the peer has reset or closed:
                // nothing more can go to it, so the connection ends here.
                ch.close();
                return;
            }
        } else if (ch instanceof DuplexChannel d) {
            d.shutdownOutput();
        }
        ((SocketChannelConfig) ch.config()).setAllowHalfClosure(false);
    };

    private static void flushAndClose(Channel ch) {
        if (ch.isActive() && !(ch instanceof DuplexChannel d && d.isOutputShutdown())) {
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else {
            ch.close();
        }
    }

    /** Relays what one side reads to the other side. */
    final class Relay extends ChannelInboundHandlerAdapter {
        private final boolean clientSide;

        Relay(boolean clientSide) {
            this.clientSide = clientSide;
        }

        private Channel peer() {
            return clientSide ? upstream : client;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            reads++;
            Channel p = peer();
            if (p == null && clientSide && client.isActive()) {
                if (early == null) {
                    early = new ArrayList<>(2);
                }
                early.add(msg);
                return;
            }
            if (p == null || !p.isActive()) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (msg instanceof ByteBuf buf && backend != null) {
                (clientSide ? backend.bytesToInstance : backend.bytesFromInstance).add(buf.readableBytes());
            }
            p.write(msg, p.voidPromise());
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            Channel p = peer();
            if (p != null) {
                p.flush();
                if (!p.isWritable()) {
                    ctx.channel().config().setAutoRead(false);
                }
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            Channel p = peer();
            if (ctx.channel().isWritable() && p != null && p.isActive()) {
                p.config().setAutoRead(true);
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                // Nothing more to read from this side: no read interest re-armed for it (an epoll_ctl).
                ctx.channel().config().setAutoRead(false);
                if (clientSide) {
                    clientInputShut = true;
                } else {
                    upstreamInputShut = true;
                }
                Channel p = peer();
                if (p == null) {
                    return; // still connecting: the half-close is passed on once connected
                }
                if (clientInputShut && upstreamInputShut) {
                    closeBoth();
                } else if (p.isActive()) {
                    shutdownOutputAfterFlush(p);
                }
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (clientSide && early != null) {
                early.forEach(ReferenceCountUtil::release);
                early = null;
            }
            Channel p = peer();
            if (p != null) {
                flushAndClose(p);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("{}: {} side: {}", fe, clientSide ? "client" : "instance", cause.toString());
            ctx.channel().close();
            Channel p = peer();
            if (p != null) {
                flushAndClose(p);
            }
        }
    }
}
