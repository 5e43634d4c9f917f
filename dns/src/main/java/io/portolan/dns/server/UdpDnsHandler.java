package io.portolan.dns.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DatagramPacket;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One datagram, one query, on a Netty datagram channel (one handler per channel): answers are
 * written as they come and flushed once per read batch.
 */
final class UdpDnsHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(UdpDnsHandler.class);
    private final QueryHandler handler;
    private QueryHandler.Later later;

    UdpDnsHandler(QueryHandler handler) {
        this.handler = handler;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        later = (out, to) -> ctx.writeAndFlush(new DatagramPacket(out, to), ctx.voidPromise());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof DatagramPacket p) {
                ByteBuf out = handler.handle(ctx.alloc(), p.content(), p.sender(), false, later);
                if (out != null) {
                    ctx.write(new DatagramPacket(out, p.sender()), ctx.voidPromise());
                }
            }
        } catch (RuntimeException e) {
            LOG.debug("query dropped", e);
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ctx.flush();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("UDP socket error", cause);
    }
}
