package io.portolan.dns.server;

import io.micrometer.core.instrument.MeterRegistry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.concurrent.FastThreadLocal;
import io.portolan.dns.ClientNetwork;
import io.portolan.dns.answer.Answer;
import io.portolan.dns.answer.Responses;
import io.portolan.dns.answer.WireQuery;
import io.portolan.dns.answer.ZoneTable;
import io.portolan.dns.forward.CachedResponse;
import io.portolan.dns.forward.Forwarder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * The one query handler behind both transports: reads the packet at the byte level, answers from
 * the current {@link ZoneTable} (swapped whole by {@link #update}), or, for names outside the zone
 * and clients allowed recursion, from the forward cache or the upstreams. Stateless apart from the
 * table reference; never throws for any input.
 */
public final class QueryHandler {
    private static final FastThreadLocal<WireQuery> QUERY = new FastThreadLocal<>() {
        @Override
        protected WireQuery initialValue() {
            return new WireQuery();
        }
    };
    private static final FastThreadLocal<ResponseArena> ARENA = new FastThreadLocal<>() {
        @Override
        protected ResponseArena initialValue() {
            return new ResponseArena();
        }

        @Override
        protected void onRemoval(ResponseArena arena) {
            arena.release();
        }
    };
    private static final FastThreadLocal<Object[]> LAST_CLIENT = new FastThreadLocal<>() {
        @Override
        protected Object[] initialValue() {
            return new Object[2];
        }
    };

    private volatile ZoneTable table;
    private final Forwarder forwarder;
    private final List<ClientNetwork> recursionClients;
    private final RateLimiter limiter;
    private final DnsMetrics metrics;

    public QueryHandler(ZoneTable initial, Forwarder forwarder, List<ClientNetwork> recursionClients, int rateLimit,
                        MeterRegistry registry) {
        this.table = initial;
        this.forwarder = forwarder;
        this.recursionClients = List.copyOf(recursionClients);
        this.limiter = rateLimit > 0 ? new RateLimiter(rateLimit) : null;
        this.metrics = new DnsMetrics(registry);
    }

    /** Makes {@code next} the table the very next query is answered from. */
    public void update(ZoneTable next) {
        this.table = next;
    }

    public ZoneTable table() {
        return table;
    }

    /**
     * Where a forwarded query's response goes: called on a forwarder thread when the upstream answers
     * or times out, or at once on the calling thread (SERVFAIL) when there is no upstream or too many
     * forwards are in flight.
     */
    @FunctionalInterface
    interface Later {
        void send(ByteBuf response, InetSocketAddress to);
    }

    /**
     * The response to send now (the caller sends and releases it), or null when the packet is
     * dropped or the answer comes later: forwarded, it is then given to {@code later}.
     */
    ByteBuf handle(ByteBufAllocator alloc, ByteBuf in, InetSocketAddress sender, boolean tcp, Later later) {
        return handle(alloc, in, sender, tcp, later, null);
    }

    /**
     * As {@link #handle(ByteBufAllocator, ByteBuf, InetSocketAddress, boolean, Later)}, for a UDP
     * transport that sends before it reads the next query: an answer from the zone is written into
     * {@code reuse} (cleared first; room for {@code Responses.SERVER_UDP_SIZE} bytes) and {@code reuse} is returned, which the
     * caller keeps; any other buffer returned is the caller's to release. With {@code reuse} null,
     * zone answers are slices of the thread's {@link ResponseArena}.
     */
    ByteBuf handle(ByteBufAllocator alloc, ByteBuf in, InetSocketAddress sender, boolean tcp, Later later, ByteBuf reuse) {
        WireQuery q = QUERY.get();
        int len = in.readableBytes();
        in.getBytes(in.readerIndex(), q.buffer(len), 0, len);
        int status = q.parse(len);
        if (status == WireQuery.DROP) {
            metrics.droppedMalformed.increment();
            return null;
        }
        if (limiter != null && !tcp) {
            int verdict = limiter.check(sender.getAddress(), System.nanoTime());
            if (verdict != RateLimiter.ALLOW) {
                metrics.droppedRateLimited.increment();
                if (verdict == RateLimiter.DROP) {
                    return null;
                }
                status = Answer.REFUSED;
            }
        }
        if (status != WireQuery.OK) {
            metrics.query(q.qtype(), status);
            return Responses.error(alloc, q, status, false);
        }
        int max = tcp ? 65535 : Responses.udpLimit(q);
        Answer a = table.answer(q);
        if (a != null) {
            metrics.query(q.qtype(), a.rcode());
            if (tcp) {
                return Responses.write(alloc, q, a, max, false);
            }
            if (reuse != null) {
                Responses.writeTo(reuse.clear(), q, a, max, false);
                return reuse;
            }
            ResponseArena arena = ARENA.get();
            ByteBuf chunk = arena.reserve(alloc, Responses.size(q, a, max));
            int start = chunk.writerIndex();
            Responses.writeTo(chunk, q, a, max, false);
            return arena.sliceFrom(start);
        }
        if (forwarder == null || !recursionAllowed(sender.getAddress())) {
            metrics.query(q.qtype(), Answer.REFUSED);
            return Responses.write(alloc, q, Answer.REFUSED_EMPTY, max, false);
        }
        byte[] question = q.lowerQuestion();
        long now = System.nanoTime();
        CachedResponse cached = forwarder.cached(question, now);
        if (cached != null) {
            metrics.query(q.qtype(), cached.rcode());
            return cached.write(alloc, q, now, max);
        }
        WireQuery detached = q.detach();
        forwarder.resolve(question, r -> {
            ByteBuf out;
            if (r == null) {
                metrics.query(detached.qtype(), Answer.SERVFAIL);
                out = Responses.write(alloc, detached, Answer.SERVFAIL_EMPTY, max, true);
            } else {
                metrics.query(detached.qtype(), r.rcode());
                out = r.write(alloc, detached, System.nanoTime(), max);
            }
            later.send(out, sender);
        });
        return null;
    }

    boolean recursionAllowed(InetAddress client) {
        Object[] last = LAST_CLIENT.get();
        if (client.equals(last[0])) {
            return (Boolean) last[1];
        }
        boolean allowed = false;
        for (ClientNetwork n : recursionClients) {
            if (n.contains(client)) {
                allowed = true;
                break;
            }
        }
        last[0] = client;
        last[1] = allowed;
        return allowed;
    }
}
