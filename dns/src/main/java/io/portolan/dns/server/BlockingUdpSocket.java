package io.portolan.dns.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One UDP socket served by one thread of its own in a blocking loop: {@code recvfrom}, answer,
 * {@code sendto}. Two system calls per query, where an event loop needs at least four
 * ({@code epoll_wait}, {@code recvmmsg}, {@code sendmsg} and the read that finds the socket empty),
 * and none of an event loop's per-datagram objects. Several of these share a port through
 * SO_REUSEPORT, and the kernel spreads clients over them.
 *
 * <p>The query buffer, the answer buffer and the JDK's sender address (cached while the sender
 * repeats) are reused: an answer from the zone costs no allocation and no reference counting. A
 * forwarded query's answer is sent later from the forwarder's thread through the same socket (the
 * JDK serialises senders). {@link #close} closes the socket, which wakes the thread.
 */
final class BlockingUdpSocket implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BlockingUdpSocket.class);
    /** Room for the largest UDP answer ({@code Responses.SERVER_UDP_SIZE}, 1232 bytes, caps it). */
    private static final int MAX_REPLY = 4096;
    private static final ThreadFactory THREADS = new DefaultThreadFactory("portolan-dns-udp", true);
    /** Whether this platform's datagram sockets take SO_REUSEPORT (Linux does; Windows does not). */
    static final boolean REUSE_PORT = reusePortSupported();
    /** Consecutive receive errors after which the thread warns and pauses, rather than spin. */
    private static final int ERRORS_BEFORE_PAUSE = 100;

    private final DatagramChannel channel;
    /** The bound address, kept for messages: a closed channel no longer tells it. */
    private final InetSocketAddress local;
    private final QueryHandler handler;
    private final ByteBufAllocator alloc;
    private final QueryHandler.Later later = this::sendLater;
    private Thread thread;
    private volatile boolean closing;

    private BlockingUdpSocket(DatagramChannel channel, QueryHandler handler, ByteBufAllocator alloc) throws IOException {
        this.channel = channel;
        this.local = (InetSocketAddress) channel.getLocalAddress();
        this.handler = handler;
        this.alloc = alloc;
    }

    /** Binds (SO_REUSEPORT set, so more sockets may share the port); {@link #start} begins serving. */
    static BlockingUdpSocket bind(InetSocketAddress addr, QueryHandler handler, ByteBufAllocator alloc, int bufferBytes)
            throws IOException {
        DatagramChannel ch = DatagramChannel.open(addr.getAddress() instanceof Inet6Address
                ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET);
        try {
            if (REUSE_PORT) {
                ch.setOption(StandardSocketOptions.SO_REUSEPORT, true);
            }
            ch.setOption(StandardSocketOptions.SO_RCVBUF, bufferBytes);
            ch.setOption(StandardSocketOptions.SO_SNDBUF, bufferBytes);
            ch.bind(addr);
            return new BlockingUdpSocket(ch, handler, alloc);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static boolean reusePortSupported() {
        try (DatagramChannel ch = DatagramChannel.open()) {
            return ch.supportedOptions().contains(StandardSocketOptions.SO_REUSEPORT);
        } catch (IOException e) {
            return false;
        }
    }

    InetSocketAddress localAddress() {
        return local;
    }

    void start() {
        thread = THREADS.newThread(this::serve);
        thread.start();
    }

    private void serve() {
        ByteBuf in = alloc.directBuffer(Transports.MAX_QUERY, Transports.MAX_QUERY);
        ByteBuffer inNio = in.nioBuffer(0, Transports.MAX_QUERY);
        ByteBuf reply = alloc.directBuffer(MAX_REPLY, MAX_REPLY);
        ByteBuffer replyNio = reply.nioBuffer(0, MAX_REPLY);
        int errors = 0;
        try {
            while (true) {
                inNio.clear();
                SocketAddress from;
                try {
                    from = channel.receive(inNio);
                    errors = 0;
                } catch (IOException e) {
                    if (!channel.isOpen()) {
                        if (!closing) { // an interrupt of a thread in send() closes the channel
                            LOG.warn("DNS UDP socket {} closed unexpectedly: {}", local, e.toString());
                        }
                        return;
                    }
                    if (++errors % ERRORS_BEFORE_PAUSE == 0) {
                        LOG.warn("DNS UDP socket {}: {} receive errors in a row, last {}", local, errors, e.toString());
                        pause();
                    } else {
                        LOG.debug("UDP receive failed", e);
                    }
                    continue;
                }
                in.setIndex(0, inNio.position());
                answer(in, (InetSocketAddress) from, reply, replyNio);
            }
        } finally {
            in.release();
            reply.release();
        }
    }

    private void answer(ByteBuf in, InetSocketAddress sender, ByteBuf reply, ByteBuffer replyNio) {
        ByteBuf out = null;
        try {
            out = handler.handle(alloc, in, sender, false, later, reply);
            if (out == reply) {
                channel.send(replyNio.limit(reply.writerIndex()).position(0), sender);
            } else if (out != null) {
                channel.send(out.nioBuffer(), sender);
            }
        } catch (IOException e) {
            LOG.debug("UDP send to {} failed: {}", sender, e.toString());
        } catch (RuntimeException e) {
            LOG.debug("query dropped", e);
        } finally {
            if (out != null && out != reply) {
                out.release();
            }
        }
    }

    private void sendLater(ByteBuf out, InetSocketAddress to) {
        try {
            channel.send(out.nioBuffer(), to);
        } catch (IOException e) {
            LOG.debug("UDP send to {} failed: {}", to, e.toString());
        } finally {
            out.release();
        }
    }

    private static void pause() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        closing = true;
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("UDP close failed", e);
        }
        if (thread != null) {
            try {
                thread.join(TimeUnit.SECONDS.toMillis(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
