package io.portolan.lb.userspace;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollMode;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.resolver.NoopAddressResolverGroup;
import io.portolan.proto.Port;

import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/** A TCP service port: accepts on VIP:port and hands each connection to a {@link TcpConnection}. */
final class TcpFrontend extends Frontend {
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(32 * 1024, 128 * 1024);

    /** The upstream bootstrap, cloned per connection onto the client's event loop. */
    final Bootstrap upstream;

    TcpFrontend(ProxyContext ctx, InetSocketAddress vip, String service, Port port) {
        super(ctx, vip, service, port);
        Bootstrap b = new Bootstrap().group(ctx.workers).channel(ctx.transport.socketChannel())
                .resolver(NoopAddressResolverGroup.INSTANCE) // instance addresses are literals
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) ctx.config.connectTimeout().toMillis());
        if (ctx.transport.epoll()) {
            b.option(EpollChannelOption.TCP_KEEPIDLE, keepIdle(ctx))
                    .option(EpollChannelOption.TCP_KEEPINTVL, 10)
                    .option(EpollChannelOption.TCP_KEEPCNT, 6)
                    .option(EpollChannelOption.IP_BIND_ADDRESS_NO_PORT, true);
            if (ctx.splice) {
                b.option(EpollChannelOption.EPOLL_MODE, EpollMode.LEVEL_TRIGGERED);
            }
        }
        this.upstream = b;
    }

    private static int keepIdle(ProxyContext ctx) {
        return (int) Math.max(1, Math.min(32767, ctx.config.keepAliveIdle().toSeconds()));
    }

    @Override
    void start() {
        ServerBootstrap sb = new ServerBootstrap().group(ctx.workers, ctx.workers).channel(ctx.transport.serverChannel())
                .option(ChannelOption.SO_BACKLOG, 4096)
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        accept(ch);
                    }
                });
        if (ctx.transport.epoll()) {
            sb.option(EpollChannelOption.IP_FREEBIND, true)
                    .childOption(EpollChannelOption.TCP_KEEPIDLE, keepIdle(ctx))
                    .childOption(EpollChannelOption.TCP_KEEPINTVL, 10)
                    .childOption(EpollChannelOption.TCP_KEEPCNT, 6);
            if (ctx.splice) {
                sb.childOption(EpollChannelOption.EPOLL_MODE, EpollMode.LEVEL_TRIGGERED);
            }
        }
        listener = sb.bind(vip).syncUninterruptibly().channel();
    }

    private void accept(Channel ch) {
        if (active.incrementAndGet() > ctx.config.maxConnections()) {
            active.decrementAndGet();
            refusedMax.increment();
            TcpConnection.reset(ch);
            return;
        }
        ch.closeFuture().addListener(f -> active.decrementAndGet());
        TcpConnection c = new TcpConnection(this, ch);
        if (!ctx.splice) {
            ch.pipeline().addLast(new IdleStateHandler(0, 0, idleNanos, TimeUnit.NANOSECONDS));
        }
        ch.pipeline().addLast(c.clientRelay);
        c.connect();
    }
}
