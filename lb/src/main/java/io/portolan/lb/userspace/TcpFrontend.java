package io.portolan.lb.userspace;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollMode;
import io.netty.channel.epoll.EpollSocketChannelConfig;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.SocketChannelConfig;
import io.netty.channel.unix.IntegerUnixChannelOption;
import io.portolan.proto.Port;

import java.net.InetAddress;
import java.net.InetSocketAddress;

/** A TCP service port: accepts on VIP:port and hands each connection to a {@link TcpConnection}. */
final class TcpFrontend extends Frontend {
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(32 * 1024, 128 * 1024);

    static final int KEEPALIVE_INTERVAL_SECONDS = 10;
    static final int KEEPALIVE_PROBES = 6;

    final int keepIdleSeconds;
    private final int connectTimeoutMillis;
    final long connectTimeoutNanos;

    TcpFrontend(ProxyContext ctx, InetSocketAddress vip, String service, Port port) {
        super(ctx, vip, service, port);
        this.keepIdleSeconds = (int) Math.max(1, Math.min(32767, ctx.config.keepAliveIdle().toSeconds()));
        this.connectTimeoutMillis = (int) ctx.config.connectTimeout().toMillis();
        this.connectTimeoutNanos = ctx.config.connectTimeout().toNanos();
    }

    /**
     * A new, unregistered upstream channel to {@code to}, bound later to {@code src} when not null.
     * Built by hand rather than by cloning a Bootstrap: no option map copied and replayed, no
     * resolver, and the connect runs at once instead of as a task. TCP_NODELAY is Netty's default
     * for new sockets already; IP_BIND_ADDRESS_NO_PORT only matters when a source address is bound.
     */
    SocketChannel newUpstream(InetAddress to, InetAddress src) {
        SocketChannel ch = ctx.transport.newSocketChannel(to);
        try {
            SocketChannelConfig c = ch.config();
            c.setAutoRead(false);
            c.setAllowHalfClosure(true);
            c.setWriteBufferWaterMark(WATER_MARK);
            c.setConnectTimeoutMillis(connectTimeoutMillis);
            c.setKeepAlive(true);
            if (c instanceof EpollSocketChannelConfig e) {
                e.setTcpKeepIdle(keepIdleSeconds).setTcpKeepIntvl(KEEPALIVE_INTERVAL_SECONDS).setTcpKeepCnt(KEEPALIVE_PROBES);
                if (src != null) {
                    e.setIpBindAddressNoPort(true);
                }
                if (ctx.splice) {
                    e.setEpollMode(EpollMode.LEVEL_TRIGGERED);
                }
            } else {
                c.setTcpNoDelay(true);
            }
            return ch;
        } catch (RuntimeException e) {
            ch.unsafe().closeForcibly();
            throw e;
        }
    }

    @Override
    void start() {
        if (ctx.loops != null) {
            startNative();
            return;
        }
        ServerBootstrap sb = new ServerBootstrap().group(ctx.workers, ctx.workers)
                .channelFactory(() -> ctx.transport.newServerChannel(vip.getAddress()))
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        accept(ch);
                    }
                });
        if (ctx.transport.epoll()) {
            // TCP_NODELAY is set on every accepted socket by Netty; keep-alive comes from the listener
            // (accepted sockets inherit it: no setsockopt per connection; Netty's server config has no
            // names for these, so they are given by their Linux numbers, NativeIo's).
            sb.option(EpollChannelOption.IP_FREEBIND, true)
                    .option(new IntegerUnixChannelOption("SO_KEEPALIVE", NativeIo.SOL_SOCKET, NativeIo.SO_KEEPALIVE), 1)
                    .option(new IntegerUnixChannelOption("TCP_KEEPIDLE", NativeIo.IPPROTO_TCP, NativeIo.TCP_KEEPIDLE), keepIdleSeconds)
                    .option(new IntegerUnixChannelOption("TCP_KEEPINTVL", NativeIo.IPPROTO_TCP, NativeIo.TCP_KEEPINTVL), KEEPALIVE_INTERVAL_SECONDS)
                    .option(new IntegerUnixChannelOption("TCP_KEEPCNT", NativeIo.IPPROTO_TCP, NativeIo.TCP_KEEPCNT), KEEPALIVE_PROBES);
            if (ctx.splice) {
                sb.childOption(EpollChannelOption.EPOLL_MODE, EpollMode.LEVEL_TRIGGERED);
            }
        } else {
            sb.childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true);
        }
        listener = bind(sb);
    }

    /**
     * One listening socket per native loop (SO_REUSEPORT: the kernel spreads connections over
     * them). Opened here, so a VIP:port that cannot be bound, or that another process holds, fails
     * this call, with nothing left open.
     */
    private void startNative() {
        byte[] addr = vip.getAddress().getAddress();
        // The loops' sockets share the port (SO_REUSEPORT); a stale process holding it the same
        // way would share it silently. A plain bind first finds it.
        int probe = NativeIo.probeBind(addr, vip.getPort());
        if (probe < 0) {
            throw new IllegalStateException("cannot listen on " + vip.getAddress().getHostAddress() + ":" + vip.getPort()
                    + ": " + NativeIo.error(probe));
        }
        int[] fds = new int[ctx.loops.length];
        for (int i = 0; i < fds.length; i++) {
            fds[i] = NativeIo.listen(addr, vip.getPort(), 4096, keepIdleSeconds, KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_PROBES);
            if (fds[i] < 0) {
                for (int j = 0; j < i; j++) {
                    NativeIo.close(fds[j]);
                }
                throw new IllegalStateException("cannot listen on " + vip.getAddress().getHostAddress() + ":" + vip.getPort()
                        + ": " + NativeIo.error(fds[i]));
            }
        }
        for (int i = 0; i < fds.length; i++) {
            ctx.loops[i].listen(this, fds[i]);
        }
    }

    @Override
    void closeListeners() {
        super.closeListeners();
        if (ctx.loops != null) {
            for (NativeLoop l : ctx.loops) {
                l.unlisten(this);
            }
        }
    }

    /** A connection accepted by a native loop; {@code peer} holds its address (see {@link NativeConnection#peerAddress}). */
    void accepted(NativeLoop loop, int fd, java.nio.ByteBuffer peer) {
        if (active.incrementAndGet() > ctx.config.maxConnections()) {
            active.decrementAndGet();
            refusedMax.increment();
            NativeIo.resetClose(fd);
            return;
        }
        NativeConnection.accepted(loop, this, fd, NativeConnection.peerAddress(peer), peer.getInt(4));
    }

    private void accept(Channel ch) {
        if (active.incrementAndGet() > ctx.config.maxConnections()) {
            active.decrementAndGet();
            refusedMax.increment();
            TcpConnection.reset(ch);
            return;
        }
        TcpConnection c = new TcpConnection(this, ch);
        // The idle timeout cannot see spliced bytes (they never reach the pipeline).
        IdleSweeper sweeper = ctx.splice ? null : IdleSweeper.of(ch.eventLoop());
        if (sweeper != null) {
            sweeper.add(c);
        }
        ch.closeFuture().addListener(f -> {
            active.decrementAndGet();
            if (sweeper != null) {
                sweeper.remove(c);
            }
        });
        ch.pipeline().addLast(c.clientRelay);
        c.connect();
    }
}
