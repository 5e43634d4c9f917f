package io.portolan.dns;

/** Every test of {@link DnsServerTest}, with UDP served by Netty's event loops. */
class DnsServerEventLoopTest extends DnsServerTest {
    @Override
    DnsConfig.UdpIo udpIo() {
        return DnsConfig.UdpIo.EVENT_LOOP;
    }
}
