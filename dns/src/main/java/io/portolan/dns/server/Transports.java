package io.portolan.dns.server;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollMode;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.InternetProtocolFamily;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.portolan.dns.DnsConfig;
import java.io.IOException;
import java.net.BindException;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The sockets. UDP: {@code udpSockets} sockets per listen address sharing the port through
 * SO_REUSEPORT (the kernel spreads clients over them), each served either by a thread of its own in
 * a blocking loop ({@link BlockingUdpSocket}, the default) or by a Netty event loop (native epoll;
 * NIO with one socket off Linux). TCP: one listener on the same port, on the event loops, which
 * also carry the forwarder's upstream sockets.
 */
public final class Transports implements AutoCloseable {
    static final int TCP_IDLE_SECONDS = 10;
    static final int MAX_QUERY = 4096;
    static final int RECV_BATCH = 16;
    /** TCP connections open at once; past it new ones are closed at accept (UDP is unaffected). */
    static final int MAX_TCP_CONNECTIONS = 1024;

    private final AtomicInteger tcpConnections = new AtomicInteger();

    private final boolean epoll;
    private final EventLoopGroup group;
    private final List<Channel> channels = new ArrayList<>();
    private final List<BlockingUdpSocket> blocking = new ArrayList<>();
    private final List<InetSocketAddress> bound = new ArrayList<>();

    private Transports(int threads) {
        this.epoll = Epoll.isAvailable();
        DefaultThreadFactory tf = new DefaultThreadFactory("portolan-dns", true);
        this.group = epoll ? new EpollEventLoopGroup(threads, tf) : new NioEventLoopGroup(threads, tf);
    }

    public static Transports create(int threads) {
        return new Transports(threads);
    }

    public EventLoopGroup group() {
        return group;
    }

    public boolean nativeEpoll() {
        return epoll;
    }

    public Class<? extends DatagramChannel> datagramClass() {
        return epoll ? EpollDatagramChannel.class : NioDatagramChannel.class;
    }

    public Class<? extends SocketChannel> socketClass() {
        return epoll ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    private Class<? extends ServerSocketChannel> serverClass() {
        return epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /** Binds UDP and TCP on each address; port 0 picks one free port for both. */
    public void bind(List<InetSocketAddress> listen, QueryHandler handler, int udpSockets, DnsConfig.UdpIo udpIo)
            throws InterruptedException, BindException {
        for (InetSocketAddress addr : listen) {
            BindException last = null;
            for (int attempt = 0; attempt < (addr.getPort() == 0 ? 5 : 1); attempt++) {
                List<Channel> mine = new ArrayList<>();
                List<BlockingUdpSocket> mineBlocking = new ArrayList<>();
                try {
                    InetSocketAddress actual = bindOne(addr, handler, udpSockets, udpIo == DnsConfig.UdpIo.BLOCKING, mine, mineBlocking);
                    channels.addAll(mine);
                    blocking.addAll(mineBlocking);
                    mineBlocking.forEach(BlockingUdpSocket::start);
                    bound.add(actual);
                    last = null;
                    break;
                } catch (Exception e) {
                    mineBlocking.forEach(BlockingUdpSocket::close);
                    for (Channel c : mine) {
                        c.close().syncUninterruptibly();
                    }
                    if (e instanceof InterruptedException ie) {
                        throw ie;
                    }
                    last = new BindException("cannot listen on " + addr + ": " + e.getMessage());
                    last.initCause(e);
                }
            }
            if (last != null) {
                throw last;
            }
        }
    }

    private InetSocketAddress bindOne(InetSocketAddress addr, QueryHandler handler, int udpSockets, boolean blockingUdp,
                                      List<Channel> mine, List<BlockingUdpSocket> mineBlocking)
            throws InterruptedException, IOException {
        InetSocketAddress actual;
        if (blockingUdp) {
            BlockingUdpSocket first = BlockingUdpSocket.bind(addr, handler, ByteBufAllocator.DEFAULT, 4 << 20);
            mineBlocking.add(first);
            actual = new InetSocketAddress(addr.getAddress(), first.localAddress().getPort());
            // Without SO_REUSEPORT (not Linux) a second socket could not share the port.
            int sockets = BlockingUdpSocket.REUSE_PORT ? udpSockets : 1;
            for (int i = 1; i < sockets; i++) {
                mineBlocking.add(BlockingUdpSocket.bind(actual, handler, ByteBufAllocator.DEFAULT, 4 << 20));
            }
        } else {
            actual = bindEventLoopUdp(addr, handler, udpSockets, mine);
        }
        ServerBootstrap sb = new ServerBootstrap().group(group).channel(serverClass())
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (tcpConnections.incrementAndGet() > MAX_TCP_CONNECTIONS) {
                            tcpConnections.decrementAndGet();
                            ch.close();
                            return;
                        }
                        ch.closeFuture().addListener(f -> tcpConnections.decrementAndGet());
                        ch.pipeline().addLast(new ReadTimeoutHandler(TCP_IDLE_SECONDS, TimeUnit.SECONDS));
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(65535 + 2, 0, 2, 0, 2));
                        ch.pipeline().addLast(new LengthFieldPrepender(2));
                        ch.pipeline().addLast(new TcpDnsHandler(handler));
                    }
                });
        mine.add(sb.bind(actual).sync().channel());
        return actual;
    }

    private InetSocketAddress bindEventLoopUdp(InetSocketAddress addr, QueryHandler handler, int udpSockets, List<Channel> mine)
            throws InterruptedException {
        // A socket of the listen address's own family: an IPv4 address on a dual-stack IPv6 socket
        // costs every datagram a v4-mapped conversion and a pass through udpv6_sendmsg.
        InternetProtocolFamily family = addr.getAddress() instanceof Inet6Address
                ? InternetProtocolFamily.IPv6 : InternetProtocolFamily.IPv4;
        Bootstrap b = new Bootstrap().group(group)
                .channelFactory(() -> epoll ? new EpollDatagramChannel(family) : new NioDatagramChannel(family))
                .option(ChannelOption.SO_RCVBUF, 4 << 20)
                .option(ChannelOption.SO_SNDBUF, 4 << 20)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_QUERY))
                .handler(new ChannelInitializer<DatagramChannel>() {
                    @Override
                    protected void initChannel(DatagramChannel ch) {
                        ch.pipeline().addLast(new UdpDnsHandler(handler));
                    }
                });
        int sockets = 1;
        if (epoll) {
            b.option(EpollChannelOption.SO_REUSEPORT, true);
            sockets = udpSockets;
            // recvmmsg: up to RECV_BATCH datagrams per system call, as slices of one buffer (about 10%
            // more queries per second in bench/dns); answers of one batch leave in one sendmmsg.
            // Level-triggered, one recvmmsg per wake-up: edge-triggered reads until EAGAIN, which costs
            // a lone query two more system calls (an empty recvmmsg and Netty's getsockopt before it):
            // six per query instead of four under strace.
            b.option(EpollChannelOption.EPOLL_MODE, EpollMode.LEVEL_TRIGGERED)
                    .option(ChannelOption.MAX_MESSAGES_PER_READ, 1);
            b.option(EpollChannelOption.MAX_DATAGRAM_PAYLOAD_SIZE, MAX_QUERY)
                    .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_QUERY * RECV_BATCH));
        }
        Channel first = b.bind(addr).sync().channel();
        mine.add(first);
        InetSocketAddress actual = new InetSocketAddress(addr.getAddress(), ((InetSocketAddress) first.localAddress()).getPort());
        for (int i = 1; i < sockets; i++) {
            mine.add(b.bind(actual).sync().channel());
        }
        return actual;
    }

    public List<InetSocketAddress> bound() {
        return List.copyOf(bound);
    }

    @Override
    public void close() {
        blocking.forEach(BlockingUdpSocket::close);
        for (Channel c : channels) {
            c.close().syncUninterruptibly();
        }
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
