package io.portolan.dns.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Length-prefixed queries on a TCP connection (framing is done by the pipeline before and after
 * this handler; one handler per connection); several queries may be in flight and answered out of order (RFC 7766).
 */
final class TcpDnsHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(TcpDnsHandler.class);
    private final QueryHandler handler;
    private QueryHandler.Later later;

    TcpDnsHandler(QueryHandler handler) {
        this.handler = handler;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        later = (out, to) -> ctx.writeAndFlush(out, ctx.voidPromise());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof ByteBuf in) {
                ByteBuf out = handler.handle(ctx.alloc(), in, (InetSocketAddress) ctx.channel().remoteAddress(), true, later);
                if (out != null) {
                    ctx.write(out, ctx.voidPromise());
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
        LOG.debug("TCP connection closed: {}", cause.toString());
        ctx.close();
    }
}
