package io.portolan.lb.userspace;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import io.portolan.proto.Port;
import io.portolan.proto.Service;

import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Run in its own JVM by {@link LeakTest}, with Netty's paranoid leak detection: a Netty echo
 * instance, the proxy in front of it, and {@code total} connections through the VIP from
 * {@code threads} clients (each writes, reads the echo, closes). Prints
 * {@code DONE ok=N failed=N leaks=N fdBaseline=N fdAfter=N}.
 */
public final class LeakProbe {
    static final AtomicLong LEAKS = new AtomicLong();

    private LeakProbe() {
    }

    /** Counts leak reports instead of only logging them. Installed before any buffer class loads. */
    static final class CountingFactory extends ResourceLeakDetectorFactory {
        @Override
        @SuppressWarnings("deprecation")
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval, long maxActive) {
            return new ResourceLeakDetector<T>(resource, samplingInterval) {
                @Override
                protected void reportTracedLeak(String resourceType, String records) {
                    LEAKS.incrementAndGet();
                    super.reportTracedLeak(resourceType, records);
                }

                @Override
                protected void reportUntracedLeak(String resourceType) {
                    LEAKS.incrementAndGet();
                    super.reportUntracedLeak(resourceType);
                }
            };
        }
    }

    static int openFds() {
        String[] l = new File("/proc/self/fd").list();
        return l == null ? -1 : l.length;
    }

    public static void main(String[] args) throws Exception {
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new CountingFactory());
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        int total = Integer.parseInt(args[0]);
        int threads = Integer.parseInt(args[1]);
        long budgetMs = Long.parseLong(args[2]);

        Transport t = Transport.detect();
        EventLoopGroup echoGroup = t.newGroup(1, "echo");
        Channel echo = new ServerBootstrap().group(echoGroup).channel(t.serverChannel())
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ctx.writeAndFlush(msg).addListener(ChannelFutureListener.CLOSE);
                            }
                        });
                    }
                }).bind(InetAddress.getLoopbackAddress(), 0).syncUninterruptibly().channel();
        int echoPort = ((InetSocketAddress) echo.localAddress()).getPort();

        UserspaceDataPlane plane = Fixtures.plane(UserspaceConfig.builder().threads(2).build());
        InetAddress vip = Fixtures.addr("127.0.0.20");
        Service svc = Fixtures.service("echo", vip, "rr", new Port("echo", 80, null));
        plane.update(Fixtures.snapshot(1, svc, List.of(
                Fixtures.instance("e1", "echo", InetAddress.getLoopbackAddress(), new Port("echo", echoPort, null), 100),
                Fixtures.instance("e2", "echo", InetAddress.getLoopbackAddress(), new Port("echo", echoPort, null), 100))));

        AtomicInteger ok = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        runClients(vip, 200, 4, ok, failed, Long.MAX_VALUE); // warm up: every pool and thread exists
        Thread.sleep(500);
        int fdBaseline = openFds();
        ok.set(0);
        failed.set(0);
        long deadline = System.nanoTime() + budgetMs * 1_000_000L;
        runClients(vip, total, threads, ok, failed, deadline);

        // back to baseline once the closes are through
        int fdAfter = openFds();
        long settle = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (fdAfter > fdBaseline && System.nanoTime() < settle) {
            Thread.sleep(100);
            fdAfter = openFds();
        }
        // leaks are reported when a tracked buffer was collected unreleased and a new one is tracked
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(100);
            for (int k = 0; k < 1000; k++) {
                ByteBuf b = ByteBufAllocator.DEFAULT.directBuffer(16);
                b.release();
            }
        }
        System.out.println("DONE ok=" + ok.get() + " failed=" + failed.get() + " leaks=" + LEAKS.get()
                + " fdBaseline=" + fdBaseline + " fdAfter=" + fdAfter);
        System.out.flush();
        plane.close();
        echo.close();
        echoGroup.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS);
        System.exit(0);
    }

    private static void runClients(InetAddress vip, int total, int threads, AtomicInteger ok, AtomicInteger failed,
                                   long deadline) throws Exception {
        AtomicInteger left = new AtomicInteger(total);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        byte[] msg = "ping-pong-0123456789abcdef".getBytes();
        List<Future<?>> fs = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            fs.add(pool.submit(() -> {
                byte[] buf = new byte[64];
                while (left.getAndDecrement() > 0 && System.nanoTime() < deadline) {
                    try (Socket s = new Socket()) {
                        s.setSoTimeout(5000);
                        s.connect(new InetSocketAddress(vip, 80), 5000);
                        OutputStream out = s.getOutputStream();
                        out.write(msg);
                        InputStream in = s.getInputStream();
                        int got = 0;
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            got += n;
                        }
                        if (got == msg.length) {
                            ok.incrementAndGet();
                        } else {
                            failed.incrementAndGet();
                        }
                    } catch (Exception e) {
                        failed.incrementAndGet();
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : fs) {
            f.get();
        }
        pool.shutdown();
    }
}
