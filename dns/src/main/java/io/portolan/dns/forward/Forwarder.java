package io.portolan.dns.forward;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Forwards questions outside the zone to upstream servers: over UDP first, again over TCP when the
 * answer is truncated, each upstream given {@code timeout} before the next is tried (starting with
 * the one that answered last), SERVFAIL when all have failed. Identical questions in flight share
 * one upstream query; at most {@code maxInFlight} distinct questions are in flight, past that the
 * answer is SERVFAIL at once. Answers are cached by {@link ResponseCache}.
 */
public final class Forwarder implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Forwarder.class);
    private static final int MAX_WAITERS = 512;

    /** Receives the upstream answer, or {@code null} when none could be had (answer SERVFAIL). */
    public interface Callback {
        void complete(CachedResponse response);
    }

    private final List<InetSocketAddress> upstreams;
    private final long timeoutNanos;
    private final int maxInFlight;
    private final ResponseCache cache;
    private final EventLoop loop;
    private final Class<? extends SocketChannel> tcpClass;
    private final Channel udp;
    private final ConcurrentHashMap<ResponseCache.Key, Pending> inflight = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Integer, Attempt> byId = new ConcurrentHashMap<>();
    private final AtomicInteger inFlightCount = new AtomicInteger();
    private volatile int preferred;

    private final Counter hits;
    private final Counter misses;
    private final Counter answered;
    private final Counter failed;
    private final Counter overloaded;
    private final Counter timeouts;
    private final Counter tcpRetries;
    private final Timer latency;

    private Forwarder(List<InetSocketAddress> upstreams, Duration timeout, int maxInFlight, long cacheBytes,
                      EventLoopGroup group, Class<? extends DatagramChannel> udpClass,
                      Class<? extends SocketChannel> tcpClass, MeterRegistry registry) throws InterruptedException {
        this.upstreams = List.copyOf(upstreams);
        this.timeoutNanos = timeout.toNanos();
        this.maxInFlight = maxInFlight;
        this.cache = new ResponseCache(cacheBytes);
        this.loop = group.next();
        this.tcpClass = tcpClass;
        this.udp = new Bootstrap().group(loop).channel(udpClass)
                .handler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        try {
                            if (msg instanceof DatagramPacket p) {
                                onUdp(p);
                            }
                        } catch (RuntimeException e) {
                            LOG.debug("upstream response dropped", e);
                        } finally {
                            ReferenceCountUtil.release(msg);
                        }
                    }

                    @Override
                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                        LOG.debug("upstream socket error", cause);
                    }
                })
                .bind(new InetSocketAddress(0)).sync().channel();
        hits = Counter.builder("portolan.dns.cache.requests").tag("result", "hit").description("forwarded questions answered from the cache").register(registry);
        misses = Counter.builder("portolan.dns.cache.requests").tag("result", "miss").description("forwarded questions not in the cache").register(registry);
        answered = Counter.builder("portolan.dns.forwards").tag("result", "answered").description("questions sent upstream, by outcome").register(registry);
        failed = Counter.builder("portolan.dns.forwards").tag("result", "failed").register(registry);
        overloaded = Counter.builder("portolan.dns.forwards").tag("result", "overloaded").register(registry);
        timeouts = Counter.builder("portolan.dns.forward.attempts").tag("outcome", "timeout").description("upstream attempts that failed, by outcome").register(registry);
        tcpRetries = Counter.builder("portolan.dns.forward.attempts").tag("outcome", "truncated").register(registry);
        latency = Timer.builder("portolan.dns.forward.latency").description("time to an upstream answer (or failure)").publishPercentiles(0.5, 0.99).register(registry);
        Gauge.builder("portolan.dns.cache.bytes", cache, ResponseCache::bytes).description("approximate memory held by the forward cache").register(registry);
        Gauge.builder("portolan.dns.cache.hit.ratio", this, f -> {
            double h = f.hits.count();
            double m = f.misses.count();
            return h + m == 0 ? 0 : h / (h + m);
        }).register(registry);
        Gauge.builder("portolan.dns.forward.inflight", inFlightCount, AtomicInteger::get).register(registry);
    }

    public static Forwarder start(List<InetSocketAddress> upstreams, Duration timeout, int maxInFlight, long cacheBytes,
                                  EventLoopGroup group, Class<? extends DatagramChannel> udpClass,
                                  Class<? extends SocketChannel> tcpClass, MeterRegistry registry) {
        try {
            return new Forwarder(upstreams, timeout, maxInFlight, cacheBytes, group, udpClass, tcpClass, registry);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while binding the upstream socket", e);
        }
    }

    public List<InetSocketAddress> upstreams() {
        return upstreams;
    }

    /** The cached answer to a lower-cased question, or null (counted as a hit or a miss). */
    public CachedResponse cached(byte[] question, long now) {
        CachedResponse r = cache.get(new ResponseCache.Key(question), now);
        (r != null ? hits : misses).increment();
        return r;
    }

    public int cacheEntries() {
        return cache.entries();
    }

    /** Asks the upstreams; {@code cb} runs on an event loop thread, exactly once. */
    public void resolve(byte[] question, Callback cb) {
        ResponseCache.Key key = new ResponseCache.Key(question);
        if (upstreams.isEmpty()) {
            failed.increment();
            cb.complete(null);
            return;
        }
        while (true) {
            Pending p = inflight.get(key);
            if (p != null && p.join(cb)) {
                return;
            }
            if (inFlightCount.incrementAndGet() > maxInFlight) {
                inFlightCount.decrementAndGet();
                overloaded.increment();
                cb.complete(null);
                return;
            }
            Pending fresh = new Pending(key, cb);
            if (p == null ? inflight.putIfAbsent(key, fresh) == null : inflight.replace(key, p, fresh)) {
                loop.execute(() -> send(fresh, 0));
                return;
            }
            inFlightCount.decrementAndGet();
        }
    }

    private void send(Pending p, int attempt) {
        if (attempt >= upstreams.size()) {
            finish(p, null);
            return;
        }
        int index = (p.first + attempt) % upstreams.size();
        Attempt a = new Attempt(p, attempt, index);
        int id;
        do {
            id = ThreadLocalRandom.current().nextInt(65536);
        } while (byId.putIfAbsent(id, a) != null);
        a.id = id;
        a.timer = loop.schedule(() -> timeout(a), timeoutNanos, TimeUnit.NANOSECONDS);
        udp.writeAndFlush(new DatagramPacket(query(id, p.key.question), upstreams.get(index)))
                .addListener(f -> {
                    if (!f.isSuccess() && a.finish()) {
                        byId.remove(a.id, a);
                        send(p, attempt + 1);
                    }
                });
    }

    private static ByteBuf query(int id, byte[] question) {
        ByteBuf b = Unpooled.buffer(12 + question.length + 11);
        b.writeShort(id).writeShort(0x0100).writeShort(1).writeShort(0).writeShort(0).writeShort(1);
        b.writeBytes(question);
        b.writeByte(0).writeShort(41).writeShort(io.portolan.dns.answer.Responses.SERVER_UDP_SIZE).writeInt(0).writeShort(0);
        return b;
    }

    private void timeout(Attempt a) {
        if (a.finish()) {
            byId.remove(a.id, a);
            if (a.tcp != null) {
                a.tcp.close();
            }
            timeouts.increment();
            send(a.pending, a.attempt + 1);
        }
    }

    private void onUdp(DatagramPacket packet) {
        ByteBuf content = packet.content();
        if (content.readableBytes() < 12) {
            return;
        }
        int id = content.getUnsignedShort(content.readerIndex());
        Attempt a = byId.get(id);
        if (a == null || !sameEndpoint(packet.sender(), upstreams.get(a.index))) {
            return;
        }
        byte[] msg = ByteBufUtil.getBytes(content);
        if (!UpstreamParser.matches(msg, msg.length, id, a.pending.key.question) || !a.finish()) {
            return;
        }
        byId.remove(id, a);
        a.timer.cancel(false);
        if (UpstreamParser.truncated(msg)) {
            tcpRetries.increment();
            sendTcp(a.pending, a.attempt, a.index);
            return;
        }
        accept(a, msg);
    }

    static boolean sameEndpoint(InetSocketAddress x, InetSocketAddress y) {
        if (x.getPort() != y.getPort()) {
            return false;
        }
        byte[] a = x.getAddress().getAddress();
        byte[] b = y.getAddress().getAddress();
        return java.util.Arrays.equals(unmap(a), unmap(b));
    }

    private static byte[] unmap(byte[] a) {
        if (a.length == 16) {
            for (int i = 0; i < 10; i++) {
                if (a[i] != 0) {
                    return a;
                }
            }
            if (a[10] == (byte) 0xFF && a[11] == (byte) 0xFF) {
                return java.util.Arrays.copyOfRange(a, 12, 16);
            }
        }
        return a;
    }

    private void accept(Attempt a, byte[] msg) {
        int rcode = UpstreamParser.rcode(msg);
        if (rcode != 0 && rcode != 3) {
            send(a.pending, a.attempt + 1); // SERVFAIL, REFUSED, ...: try the next upstream
            return;
        }
        CachedResponse r;
        try {
            r = UpstreamParser.parse(msg, msg.length, a.pending.key.question, System.nanoTime());
        } catch (RuntimeException e) {
            LOG.debug("malformed answer from {}", upstreams.get(a.index), e);
            send(a.pending, a.attempt + 1);
            return;
        }
        preferred = a.index;
        if (r.expiresNanos - r.storedNanos > 0) {
            cache.put(a.pending.key, r);
        }
        finish(a.pending, r);
    }

    private void sendTcp(Pending p, int attempt, int index) {
        Attempt a = new Attempt(p, attempt, index);
        a.id = ThreadLocalRandom.current().nextInt(65536);
        a.timer = loop.schedule(() -> timeout(a), timeoutNanos, TimeUnit.NANOSECONDS);
        Bootstrap b = new Bootstrap().group(loop).channel(tcpClass)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, timeoutNanos / 1_000_000))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(65535, 0, 2, 0, 2));
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                byte[] bytes;
                                try {
                                    bytes = ByteBufUtil.getBytes((ByteBuf) msg);
                                } finally {
                                    ReferenceCountUtil.release(msg);
                                }
                                ctx.close();
                                if (UpstreamParser.matches(bytes, bytes.length, a.id, p.key.question) && a.finish()) {
                                    a.timer.cancel(false);
                                    accept(a, bytes);
                                }
                            }

                            @Override
                            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                ctx.close();
                            }
                        });
                    }
                });
        b.connect(upstreams.get(index)).addListener(f -> {
            if (!f.isSuccess()) {
                if (a.finish()) {
                    a.timer.cancel(false);
                    send(p, attempt + 1);
                }
                return;
            }
            Channel ch = ((io.netty.channel.ChannelFuture) f).channel();
            a.tcp = ch;
            ByteBuf q = query(a.id, p.key.question);
            ByteBuf framed = Unpooled.buffer(2 + q.readableBytes());
            framed.writeShort(q.readableBytes()).writeBytes(q);
            q.release();
            ch.writeAndFlush(framed);
        });
    }

    private void finish(Pending p, CachedResponse r) {
        inflight.remove(p.key, p);
        inFlightCount.decrementAndGet();
        latency.record(System.nanoTime() - p.started, TimeUnit.NANOSECONDS);
        (r != null ? answered : failed).increment();
        for (Callback cb : p.close()) {
            try {
                cb.complete(r);
            } catch (RuntimeException e) {
                LOG.warn("forward callback failed", e);
            }
        }
    }

    @Override
    public void close() {
        udp.close().syncUninterruptibly();
    }

    private final class Pending {
        final ResponseCache.Key key;
        final long started = System.nanoTime();
        final int first = preferred;
        private List<Callback> waiters = new ArrayList<>(2);

        Pending(ResponseCache.Key key, Callback cb) {
            this.key = key;
            waiters.add(cb);
        }

        /** Adds a waiter; false when this query has already completed. */
        boolean join(Callback cb) {
            synchronized (this) {
                if (waiters == null) {
                    return false;
                }
                if (waiters.size() < MAX_WAITERS) {
                    waiters.add(cb);
                    return true;
                }
            }
            overloaded.increment();
            cb.complete(null);
            return true;
        }

        synchronized List<Callback> close() {
            List<Callback> w = waiters;
            waiters = null;
            return w;
        }
    }

    private static final class Attempt {
        final Pending pending;
        final int attempt;
        final int index;
        final AtomicBoolean done = new AtomicBoolean();
        volatile int id;
        volatile ScheduledFuture<?> timer;
        volatile Channel tcp;

        Attempt(Pending pending, int attempt, int index) {
            this.pending = pending;
            this.attempt = attempt;
            this.index = index;
        }

        boolean finish() {
            return done.compareAndSet(false, true);
        }
    }
}
