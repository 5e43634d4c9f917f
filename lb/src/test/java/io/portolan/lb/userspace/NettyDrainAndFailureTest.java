package io.portolan.lb.userspace;

/** Every test of {@link DrainAndFailureTest}, on the TCP relay of Netty's epoll transport. */
class NettyDrainAndFailureTest extends DrainAndFailureTest {
    @Override
    UserspaceConfig.TcpIo tcpIo() {
        return UserspaceConfig.TcpIo.NETTY;
    }
}
