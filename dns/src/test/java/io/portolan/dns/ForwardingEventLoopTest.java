package io.portolan.dns;

/** Every test of {@link ForwardingTest}, with UDP served by Netty's event loops. */
class ForwardingEventLoopTest extends ForwardingTest {
    @Override
    DnsConfig.UdpIo udpIo() {
        return DnsConfig.UdpIo.EVENT_LOOP;
    }
}
