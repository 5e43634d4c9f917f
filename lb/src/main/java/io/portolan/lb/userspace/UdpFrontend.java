package io.portolan.lb.userspace;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import io.portolan.proto.Port;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A UDP service port: one flow per client address:port, each with its own connected upstream
 * socket (bound to a source-pool address), so replies find their way back to the client from the
 * VIP. A flow with no datagram either way for the UDP idle timeout is dropped. Flows live on the
 * listener's event loop and need no locks.
 */
final class UdpFrontend extends Frontend {
    private static final Logger log = LoggerFactory.getLogger(UdpFrontend.class);

    /** Datagrams a flow queues while its upstream socket is still being set up. */
    private static final int MAX_PENDING = 64;

    private final Map<InetSocketAddress, Flow> flows = new HashMap<>();

    UdpFrontend(ProxyContext ctx, InetSocketAddress vip, String service, Port port) {
        super(ctx, vip, service, port);
    }

    @Override
    void start() {
        Bootstrap b = new Bootstrap().group(ctx.workers).channel(ctx.transport.datagramChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .handler(new Listener());
        if (ctx.transport.epoll()) {
            b.option(EpollChannelOption.IP_FREEBIND, true);
        }
        listener = bind(b);
    }

    private final class Listener extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext c, Object msg) {
            if (!(msg instanceof DatagramPacket p)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            try {
                Flow f = flows.get(p.sender());
                if (f == null) {
                    f = open(c.channel(), p.sender());
                    if (f == null) {
                        return;
                    }
                }
                f.send(p.content().retain());
            } finally {
                p.release();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext c, Throwable cause) {
            log.debug("{}: {}", UdpFrontend.this, cause.toString());
        }
    }

    private Flow open(Channel listenerChannel, InetSocketAddress client) {
        if (flows.size() >= ctx.config.maxConnections()) {
            refusedMax.increment();
            return null;
        }
        Backend b = scheduler.pick(client.getAddress(), java.util.List.of());
        if (b == null) {
            refusedNoInstance.increment();
            return null;
        }
        b.active.incrementAndGet();
        active.incrementAndGet();
        Flow f = new Flow(listenerChannel, client, b);
        flows.put(client, f);
        InetAddress src = ctx.sources.next(b.address.getAddress());
        Bootstrap bs = new Bootstrap().group(listenerChannel.eventLoop()).channel(ctx.transport.datagramChannel())
                .handler(new io.netty.channel.ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new IdleStateHandler(0, 0, ctx.config.udpIdleTimeout().toNanos(), TimeUnit.NANOSECONDS));
                        ch.pipeline().addLast(f);
                    }
                });
        f.future = src == null ? bs.connect(b.address) : bs.connect(b.address, new InetSocketAddress(src, 0));
        Channel ch = f.future.channel();
        Link link = ch::close;
        b.links.add(link);
        ch.closeFuture().addListener(x -> {
            flows.remove(client, f);
            b.links.remove(link);
            active.decrementAndGet();
            b.active.decrementAndGet();
            released(b);
        });
        f.future.addListener((ChannelFutureListener) cf -> {
            if (cf.isSuccess()) {
                b.total.increment();
            } else {
                b.connectErrors.increment();
                cf.channel().close();
            }
        });
        return f;
    }

    /** One client flow; the handler of its upstream socket. */
    private final class Flow extends ChannelInboundHandlerAdapter {
        final Channel listener;
        final InetSocketAddress client;
        final Backend backend;
        ChannelFuture future;
        int pending;
        boolean answered;

        Flow(Channel listener, InetSocketAddress client, Backend backend) {
            this.listener = listener;
            this.client = client;
            this.backend = backend;
        }

        void send(ByteBuf data) {
            backend.bytesToInstance.add(data.readableBytes());
            if (future.isSuccess()) {
                future.channel().writeAndFlush(data, future.channel().voidPromise());
            } else if (!future.isDone() && pending < MAX_PENDING) {
                pending++;
                future.addListener((ChannelFutureListener) cf -> {
                    pending--;
                    if (cf.isSuccess()) {
                        cf.channel().writeAndFlush(data, cf.channel().voidPromise());
                    } else {
                        data.release();
                    }
                });
            } else {
                data.release();
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext c, Object msg) {
            if (!(msg instanceof DatagramPacket p)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (!answered) {
                answered = true;
                if (backend.breaker != null) {
                    backend.breaker.onSuccess(0, TimeUnit.NANOSECONDS);
                }
            }
            backend.bytesFromInstance.add(p.content().readableBytes());
            if (listener.isActive()) {
                listener.writeAndFlush(new DatagramPacket(p.content(), client), listener.voidPromise());
            } else {
                p.release();
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext c, Object evt) {
            if (evt instanceof IdleStateEvent) {
                c.channel().close();
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext c, Throwable cause) {
            // ICMP port unreachable on a connected socket: the instance is not listening.
            backend.connectErrors.increment();
            if (backend.breaker != null) {
                backend.breaker.onError(0, TimeUnit.NANOSECONDS, cause);
            }
            log.debug("{}: flow {} -> {}: {}", UdpFrontend.this, client, backend, cause.toString());
            c.channel().close();
        }
    }
}
