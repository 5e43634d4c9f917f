package io.portolan.dns.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import io.portolan.dns.DnsConfig;
import io.portolan.dns.DnsServer;
import io.portolan.dns.answer.ZoneTable;
import io.portolan.dns.testing.Dns;
import io.portolan.dns.testing.Processes;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.testing.Snapshots;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Message;
import org.xbill.DNS.Rcode;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/**
 * A million random and mutated packets through the UDP pipeline in process, then more through a
 * real socket to a running server, with Netty's paranoid leak detection (every buffer tracked;
 * access records off so that the run stays fast). Afterwards the server answers, every buffer was
 * released exactly once, and the leak detector reported nothing.
 *
 * <p>Runs in its own JVM (surefire {@code reuseForks=false}) so the counting leak detector is the
 * one Netty's buffers use.
 */
class FuzzTest {
    static final AtomicInteger LEAKS = new AtomicInteger();

    static {
        System.setProperty("io.netty.leakDetection.level", "paranoid");
        System.setProperty("io.netty.leakDetection.targetRecords", "0");
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new ResourceLeakDetectorFactory() {
            @Override
            @SuppressWarnings("deprecation")
            public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
                return new ResourceLeakDetector<>(resource, samplingInterval) {
                    @Override
                    protected void reportTracedLeak(String type, String records) {
                        LEAKS.incrementAndGet();
                        super.reportTracedLeak(type, records);
                    }

                    @Override
                    protected void reportUntracedLeak(String type) {
                        LEAKS.incrementAndGet();
                        super.reportUntracedLeak(type);
                    }
                };
            }
        });
    }

    static final String Z = "portolan.internal.";
    static final int PACKETS = 1_000_000;
    static final long BUDGET_NANOS = Duration.ofSeconds(90).toNanos();

    static ClusterSnapshot snapshot() {
        Snapshots s = Snapshots.builder().vip("web", "10.99.0.10", "http:80/tcp")
                .instance("web", "web-1", "10.0.0.1", "http:8080/tcp")
                .dnsrr("db", "pg:5432/tcp");
        for (int i = 0; i < 60; i++) {
            s.instance("db", "db-" + i, i % 2 == 0 ? "10.0.1." + (i + 1) : "fd00::" + Integer.toHexString(i + 1), "pg:5432/tcp");
        }
        return s.build(1);
    }

    static List<byte[]> seeds() {
        List<byte[]> seeds = new ArrayList<>();
        String[] names = {"web." + Z, "web.", "tasks.web." + Z, "db." + Z, "_pg._tcp.db." + Z, "nope." + Z, Z,
            "10.0.99.10.in-addr.arpa.", "example.com.", "a.b.c.d.e.f.g.h.example.org."};
        int[] types = {Type.A, Type.AAAA, Type.SRV, Type.PTR, Type.ANY, Type.SOA, Type.NS, Type.TXT, Type.AXFR};
        for (String n : names) {
            for (int t : types) {
                seeds.add(Dns.query(n, t, DClass.IN, -1));
                seeds.add(Dns.query(n, t, DClass.IN, 1232));
            }
        }
        return seeds;
    }

    /** A random packet (a third of them) or a mutated valid query. */
    static byte[] packet(SplittableRandom rnd, List<byte[]> seeds) {
        if (rnd.nextInt(3) == 0) {
            byte[] b = new byte[rnd.nextInt(300)];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) rnd.nextInt(256);
            }
            return b;
        }
        byte[] seed = seeds.get(rnd.nextInt(seeds.size()));
        byte[] b;
        switch (rnd.nextInt(5)) {
            case 0 -> b = java.util.Arrays.copyOf(seed, rnd.nextInt(seed.length + 1)); // truncated
            case 1 -> { // random bytes appended
                b = java.util.Arrays.copyOf(seed, seed.length + 1 + rnd.nextInt(40));
                for (int i = seed.length; i < b.length; i++) {
                    b[i] = (byte) rnd.nextInt(256);
                }
            }
            case 2 -> { // counts changed
                b = seed.clone();
                b[4 + 2 * rnd.nextInt(4) + rnd.nextInt(2)] = (byte) rnd.nextInt(256);
            }
            default -> { // bytes flipped
                b = seed.clone();
                for (int k = 1 + rnd.nextInt(4); k > 0; k--) {
                    b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                }
            }
        }
        if (rnd.nextInt(8) == 0 && b.length > 2) {
            b[2] &= 0x7F; // keep QR clear more often, so more packets get past the first check
        }
        return b;
    }

    @Test
    void udpPipeline_millionRandomAndMutatedPackets_noExceptionNoLeakServerUp() throws Exception {
        List<byte[]> seeds = seeds();
        SplittableRandom rnd = new SplittableRandom(42);
        ZoneTable table = ZoneTable.build(snapshot(), Z, 5, List.of());
        QueryHandler handler = new QueryHandler(table, null, List.of(), 0, new SimpleMeterRegistry());
        EmbeddedChannel ch = new EmbeddedChannel(new UdpDnsHandler(handler));
        ch.config().setAllocator(PooledByteBufAllocator.DEFAULT);
        ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
        InetSocketAddress client = new InetSocketAddress("10.1.2.3", 5353);
        InetSocketAddress local = new InetSocketAddress("127.0.0.1", 53);
        long start = System.nanoTime();
        int sent = 0;
        int answered = 0;
        while (sent < PACKETS && System.nanoTime() - start < BUDGET_NANOS) {
            byte[] p = packet(rnd, seeds);
            ByteBuf in = alloc.buffer(p.length).writeBytes(p);
            ch.writeInbound(new DatagramPacket(in, local, client));
            sent++;
            assertEquals(0, in.refCnt(), "query buffer released");
            DatagramPacket out;
            while ((out = ch.readOutbound()) != null) {
                answered++;
                ByteBuf c = out.content();
                assertEquals(1, c.refCnt());
                assertTrue(c.readableBytes() >= 12 && (c.getByte(2) & 0x80) != 0, "a response");
                assertEquals(((p[0] & 0xFF) << 8) | (p[1] & 0xFF), c.getUnsignedShort(0), "its ID");
                out.release();
            }
        }
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("fuzz: %d packets in process in %d ms, %d answered%n", sent, ms, answered);
        assertEquals(PACKETS, sent, "all packets within the time budget");
        assertTrue(ch.isOpen());
        ch.finishAndReleaseAll();

        // Then through a real socket to a running server that forwards (to an upstream that never answers).
        DnsConfig config = DnsConfig.defaults(DnsConfig.parseAddresses("--dns-listen", "127.0.0.1:0", 53))
                .withUpstreams(List.of(new InetSocketAddress("127.0.0.1", Processes.freePort())))
                .withForwardTimeout(Duration.ofMillis(50)).withMaxForwardsInFlight(64).withUdpSockets(2).withRateLimit(1_000_000);
        try (DnsServer server = DnsServer.start(config, new SimpleMeterRegistry());
             DatagramChannel sock = DatagramChannel.open()) {
            server.update(snapshot());
            InetSocketAddress to = server.boundAddresses().get(0);
            sock.configureBlocking(false);
            ByteBuffer rx = ByteBuffer.allocate(65536);
            int real = 0;
            long realStart = System.nanoTime();
            while (real < 100_000 && System.nanoTime() - realStart < Duration.ofSeconds(20).toNanos()) {
                sock.send(ByteBuffer.wrap(packet(rnd, seeds)), to);
                real++;
                if ((real & 63) == 0) {
                    while (sock.receive(rx.clear()) != null) {
                        // drain answers
                    }
                    Thread.onSpinWait();
                }
            }
            System.out.printf("fuzz: %d packets over UDP in %d ms%n", real, (System.nanoTime() - realStart) / 1_000_000);
            Thread.sleep(300);
            sock.configureBlocking(true);
            Message m = DnsServerAsk.ask(to, "db." + Z, Type.A);
            assertEquals(Rcode.NOERROR, m.getRcode());
            assertEquals(30, m.getSection(Section.ANSWER).size());
        }

        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(100);
            for (int k = 0; k < 1000; k++) {
                alloc.buffer(16).release(); // each allocation polls the leak detector's queue
            }
        }
        assertEquals(0, LEAKS.get(), "Netty's leak detector reported leaks");
    }
}
