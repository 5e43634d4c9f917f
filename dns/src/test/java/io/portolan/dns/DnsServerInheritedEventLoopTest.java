package io.portolan.dns;

/** {@link DnsServerInheritedTest} with UDP configured {@code eventloop}. */
class DnsServerInheritedEventLoopTest extends DnsServerInheritedTest {
    @Override
    DnsConfig.UdpIo udpIo() {
        return DnsConfig.UdpIo.EVENT_LOOP;
    }
}
