package io.portolan.lb.userspace;

/** Every test of {@link TcpBehaviourTest}, on the TCP relay of Netty's epoll transport. */
class NettyTcpBehaviourTest extends TcpBehaviourTest {
    @Override
    UserspaceConfig.TcpIo tcpIo() {
        return UserspaceConfig.TcpIo.NETTY;
    }
}
