package io.portolan.dns.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DatagramPacket;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One datagram, one query: answers are written as they come and flushed once per read batch. */
@ChannelHandler.Sharable
final class UdpDnsHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(UdpDnsHandler.class);
    private final QueryHandler handler;

    UdpDnsHandler(QueryHandler handler) {
        this.handler = handler;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof DatagramPacket p) {
                ByteBuf out = handler.handle(ctx, p.content(), p.sender(), false);
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
