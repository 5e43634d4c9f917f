package io.portolan.lb.userspace;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.InternetProtocolFamily;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.net.Inet4Address;
import java.net.InetAddress;

/** Native epoll when it loads (Linux), NIO otherwise (no splice, no IP_BIND_ADDRESS_NO_PORT). */
record Transport(boolean epoll, Class<? extends ServerChannel> serverChannel, Class<? extends SocketChannel> socketChannel,
                 Class<? extends DatagramChannel> datagramChannel) {

    static Transport detect() {
        if (Epoll.isAvailable()) {
            return new Transport(true, EpollServerSocketChannel.class, EpollSocketChannel.class, EpollDatagramChannel.class);
        }
        return new Transport(false, NioServerSocketChannel.class, NioSocketChannel.class, NioDatagramChannel.class);
    }

    /**
     * A TCP socket of {@code address}'s family. With epoll an IPv4 address gets an AF_INET socket,
     * not Netty's default dual-stack AF_INET6 one (one setsockopt less per socket, shorter addresses).
     */
    SocketChannel newSocketChannel(InetAddress address) {
        if (!epoll) {
            return new NioSocketChannel();
        }
        return new EpollSocketChannel(address instanceof Inet4Address ? InternetProtocolFamily.IPv4 : InternetProtocolFamily.IPv6);
    }

    /** A listening socket of {@code address}'s family (see {@link #newSocketChannel}). */
    ServerChannel newServerChannel(InetAddress address) {
        if (!epoll) {
            return new NioServerSocketChannel();
        }
        return new EpollServerSocketChannel(address instanceof Inet4Address ? InternetProtocolFamily.IPv4 : InternetProtocolFamily.IPv6);
    }

    EventLoopGroup newGroup(int threads, String name) {
        DefaultThreadFactory tf = new DefaultThreadFactory(name, true);
        return epoll ? new EpollEventLoopGroup(threads, tf) : new NioEventLoopGroup(threads, tf);
    }
}
