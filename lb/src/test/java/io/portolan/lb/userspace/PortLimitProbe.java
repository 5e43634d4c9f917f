package io.portolan.lb.userspace;

import io.portolan.proto.Port;
import io.portolan.proto.Service;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Run inside a network namespace by {@link PortLimitTest}: an instance on 127.0.0.1:9000, the proxy
 * on VIP 127.0.0.10:80 with the given source addresses, and {@code clients} connections to the VIP
 * from fixed client ports (outside the ephemeral range). Prints {@code ACCEPTED n}: how many
 * upstream connections reached the instance.
 */
public final class PortLimitProbe {
    private PortLimitProbe() {
    }

    public static void main(String[] args) throws Exception {
        List<InetAddress> sources = UserspaceConfig.parseAddresses("sources", args[0]);
        int clients = Integer.parseInt(args[1]);
        AtomicInteger accepted = new AtomicInteger();
        List<SocketChannel> held = new ArrayList<>();
        ServerSocketChannel server = ServerSocketChannel.open();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 9000), 8192);
        Thread acceptor = new Thread(() -> {
            try {
                while (true) {
                    SocketChannel c = server.accept();
                    synchronized (held) {
                        held.add(c);
                    }
                    accepted.incrementAndGet();
                }
            } catch (Exception e) {
                // closed
            }
        });
        acceptor.setDaemon(true);
        acceptor.start();
        UserspaceConfig config = UserspaceConfig.builder().sourceAddresses(sources).maxConnections(100_000)
                .connectRetries(0).threads(2).build();
        UserspaceDataPlane plane = Fixtures.plane(config);
        InetAddress vip = Fixtures.addr("127.0.0.10");
        Service svc = Fixtures.service("big", vip, "rr", new Port("tcp", 80, null));
        plane.update(Fixtures.snapshot(1, svc, List.of(Fixtures.instance("only", "big", InetAddress.getLoopbackAddress(),
                new Port("tcp", 9000, null), 100))));
        List<SocketChannel> mine = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        for (int i = 0; i < clients && System.nanoTime() < deadline; i++) {
            SocketChannel c = SocketChannel.open();
            c.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            c.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 20000 + i));
            c.connect(new InetSocketAddress(vip, 80));
            mine.add(c);
        }
        int last = -1;
        long settle = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < settle) {
            Thread.sleep(700);
            int now = accepted.get();
            if (now == last) {
                break;
            }
            last = now;
        }
        System.out.println("ACCEPTED " + accepted.get());
        System.out.flush();
        for (SocketChannel c : mine) {
            c.close();
        }
        plane.close();
        System.exit(0);
    }
}
