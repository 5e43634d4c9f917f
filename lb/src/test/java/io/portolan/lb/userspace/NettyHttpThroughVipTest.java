package io.portolan.lb.userspace;

/** Every test of {@link HttpThroughVipTest}, on the TCP relay of Netty's epoll transport. */
class NettyHttpThroughVipTest extends HttpThroughVipTest {
    @Override
    UserspaceConfig.TcpIo tcpIo() {
        return UserspaceConfig.TcpIo.NETTY;
    }
}
