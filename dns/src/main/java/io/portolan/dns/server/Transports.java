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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sockets. UDP: {@code udpSockets} sockets per listen address sharing the port through
 * SO_REUSEPORT (the kernel spreads clients over them), each served either by a thread of its own in
 * a blocking loop ({@link BlockingUdpSocket}, the default) or by a Netty event loop (native epoll;
 * NIO with one socket off Linux). TCP: one listener on the same port, on the event loops, which
 * also carry the forwarder's upstream sockets.
 *
 * <p>Inherited sockets (systemd's socket activation): a UDP or listening TCP socket handed to the
 * process that is bound to a listen address is served instead of binding that address and protocol
 * (see {@link #bind}); both kinds go on the event loops, through Netty's epoll channels that adopt a
 * file descriptor. They start reading at {@link #serveInherited}: until then queries wait in the
 * socket's buffer (or the TCP accept queue), as they did while no process served them.
 */
public final class Transports implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Transports.class);
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
    /** Inherited channels registered with reading off, until {@link #serveInherited}. */
    private final List<Channel> held = new ArrayList<>();
    private final AtomicBoolean serving = new AtomicBoolean();

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
        bind(listen, List.of(), handler, udpSockets, udpIo);
    }

    /**
     * Serves each listen address over UDP and TCP. For each address and protocol, the inherited
     * sockets bound to exactly that address and port (getsockname) and of that type are served as
     * they are (no more UDP sockets are added next to them: a socket of this process would take a
     * share of the queries and lose the ones queued in it when the process dies); an address and
     * protocol without one is bound as without inherited sockets. An inherited socket that matches no
     * listen address, or is not a UDP or listening TCP socket, is left alone with a warning naming the
     * fd and its address. Inherited sockets need the epoll transport and O_NONBLOCK (systemd clears
     * it unless the service says {@code NonBlocking=yes}); without either, an inherited socket that
     * matches fails the start ({@link IllegalStateException}, naming the fd): the address is taken by
     * it, and an event loop would block in it.
     */
    public void bind(List<InetSocketAddress> listen, List<Integer> inheritedFds, QueryHandler handler, int udpSockets,
                     DnsConfig.UdpIo udpIo) throws InterruptedException, BindException {
        List<InheritedSocket> inherited = probe(inheritedFds);
        List<InheritedSocket> used = new ArrayList<>();
        for (InetSocketAddress addr : listen) {
            List<InheritedSocket> udpFds = InheritedSocket.matching(inherited, InheritedSocket.Kind.UDP, addr);
            List<InheritedSocket> tcpFds = InheritedSocket.matching(inherited, InheritedSocket.Kind.TCP, addr);
            for (InheritedSocket s : concat(udpFds, tcpFds)) {
                if (!s.nonBlocking()) {
                    throw new IllegalStateException("inherited socket " + s.describe() + " for --dns-listen "
                            + InheritedSocket.hostPort(addr) + " is in blocking mode: the event loops need O_NONBLOCK"
                            + " (in the systemd service unit: NonBlocking=yes)");
                }
            }
            used.addAll(udpFds);
            used.addAll(tcpFds);
            BindException last = null;
            for (int attempt = 0; attempt < (addr.getPort() == 0 ? 5 : 1); attempt++) {
                List<Channel> mine = new ArrayList<>();
                List<Channel> mineHeld = new ArrayList<>();
                List<BlockingUdpSocket> mineBlocking = new ArrayList<>();
                try {
                    InetSocketAddress actual = bindOne(addr, handler, udpSockets, udpIo == DnsConfig.UdpIo.BLOCKING,
                            udpFds, tcpFds, mine, mineHeld, mineBlocking);
                    channels.addAll(mine);
                    blocking.addAll(mineBlocking);
                    mineBlocking.forEach(BlockingUdpSocket::start);
                    synchronized (held) {
                        held.addAll(mineHeld);
                    }
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
        for (InheritedSocket s : inherited) {
            if (!used.contains(s)) {
                LOG.warn("inherited socket {} matches no --dns-listen address ({}): not served", s.describe(),
                        String.join(",", listen.stream().map(InheritedSocket::hostPort).toList()));
            }
        }
    }

    private List<InheritedSocket> probe(List<Integer> fds) {
        if (fds.isEmpty()) {
            return List.of();
        }
        if (!epoll) {
            throw new IllegalStateException("inherited sockets (fds " + fds + ") need Netty's native epoll transport, "
                    + "which is unavailable here: " + Epoll.unavailabilityCause());
        }
        List<InheritedSocket> out = new ArrayList<>();
        for (int fd : fds) {
            try {
                out.add(InheritedSocket.probe(fd));
            } catch (IllegalArgumentException e) {
                LOG.warn("inherited fd {} is {}: not served", fd, e.getMessage());
            }
        }
        return out;
    }

    private static List<InheritedSocket> concat(List<InheritedSocket> a, List<InheritedSocket> b) {
        List<InheritedSocket> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }

    /**
     * Starts reading the inherited sockets (once; later calls do nothing). Until then their queries
     * wait in the kernel, so none is answered from a table that is not loaded yet.
     */
    public void serveInherited() {
        if (!serving.compareAndSet(false, true)) {
            return;
        }
        synchronized (held) {
            for (Channel c : held) {
                c.config().setAutoRead(true);
            }
            if (!held.isEmpty()) {
                LOG.info("DNS: reading the inherited sockets");
            }
        }
    }

    /** Whether any inherited socket is served (and so waits for {@link #serveInherited}). */
    public boolean hasInherited() {
        synchronized (held) {
            return !held.isEmpty();
        }
    }

    private InetSocketAddress bindOne(InetSocketAddress addr, QueryHandler handler, int udpSockets, boolean blockingUdp,
                                      List<InheritedSocket> udpFds, List<InheritedSocket> tcpFds,
                                      List<Channel> mine, List<Channel> mineHeld, List<BlockingUdpSocket> mineBlocking)
            throws InterruptedException, IOException {
        InetSocketAddress actual;
        if (!udpFds.isEmpty()) {
            // The JDK cannot adopt a file descriptor as a DatagramChannel (no public API; JDK 17's
            // internal one takes every socket for IPv6 when the host has IPv6, so IPv4 sends fail),
            // so an inherited UDP socket is served on an event loop in either --dns-udp-io mode.
            for (InheritedSocket s : udpFds) {
                Channel ch = udpBootstrap(handler, false)
                        .channelFactory(() -> new EpollDatagramChannel(s.fd()))
                        .option(ChannelOption.AUTO_READ, false)
                        .register().sync().channel();
                mine.add(ch);
                mineHeld.add(ch);
                LOG.info("DNS: serving inherited socket {}", s.describe());
            }
            actual = addr;
        } else if (blockingUdp) {
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
        if (!tcpFds.isEmpty()) {
            for (InheritedSocket s : tcpFds) {
                Channel ch = tcpBootstrap(handler)
                        .channelFactory(() -> new EpollServerSocketChannel(s.fd()))
                        .option(ChannelOption.AUTO_READ, false)
                        .register().sync().channel();
                mine.add(ch);
                mineHeld.add(ch);
                LOG.info("DNS: serving inherited socket {}", s.describe());
            }
        } else {
            mine.add(tcpBootstrap(handler).channel(serverClass()).bind(actual).sync().channel());
        }
        return actual;
    }

    private ServerBootstrap tcpBootstrap(QueryHandler handler) {
        return new ServerBootstrap().group(group)
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
    }

    private InetSocketAddress bindEventLoopUdp(InetSocketAddress addr, QueryHandler handler, int udpSockets, List<Channel> mine)
            throws InterruptedException {
        // A socket of the listen address's own family: an IPv4 address on a dual-stack IPv6 socket
        // costs every datagram a v4-mapped conversion and a pass through udpv6_sendmsg.
        InternetProtocolFamily family = addr.getAddress() instanceof Inet6Address
                ? InternetProtocolFamily.IPv6 : InternetProtocolFamily.IPv4;
        Bootstrap b = udpBootstrap(handler, true)
                .channelFactory(() -> epoll ? new EpollDatagramChannel(family) : new NioDatagramChannel(family));
        // Without SO_REUSEPORT (NIO) a second socket could not share the port.
        int sockets = epoll ? udpSockets : 1;
        Channel first = b.bind(addr).sync().channel();
        mine.add(first);
        InetSocketAddress actual = new InetSocketAddress(addr.getAddress(), ((InetSocketAddress) first.localAddress()).getPort());
        for (int i = 1; i < sockets; i++) {
            mine.add(b.bind(actual).sync().channel());
        }
        return actual;
    }

    /** UDP on the event loops, every option but the channel; {@code reusePort} for sockets bound here. */
    private Bootstrap udpBootstrap(QueryHandler handler, boolean reusePort) {
        Bootstrap b = new Bootstrap().group(group)
                .option(ChannelOption.SO_RCVBUF, 4 << 20)
                .option(ChannelOption.SO_SNDBUF, 4 << 20)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_QUERY))
                .handler(new ChannelInitializer<DatagramChannel>() {
                    @Override
                    protected void initChannel(DatagramChannel ch) {
                        ch.pipeline().addLast(new UdpDnsHandler(handler));
                    }
                });
        if (epoll) {
            if (reusePort) {
                b.option(EpollChannelOption.SO_REUSEPORT, true);
            }
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
        return b;
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
