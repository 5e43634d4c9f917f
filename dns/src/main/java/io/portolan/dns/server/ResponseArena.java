package io.portolan.dns.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * One per event-loop thread (UDP on event loops; the blocking UDP threads reuse one reply buffer
 * instead): UDP answers are written back to back into one pooled direct chunk
 * and sent as retained slices of it, so a read batch costs one buffer allocation instead of one
 * per answer. The chunk is returned to the pool when this arena has moved on to the next one and
 * the last slice of it has been sent (released).
 */
final class ResponseArena {
    static final int CHUNK = 64 * 1024;

    private ByteBuf chunk;

    /** The chunk to append exactly {@code size} bytes to (at its writer index); then call {@link #sliceFrom}. */
    ByteBuf reserve(ByteBufAllocator alloc, int size) {
        if (chunk == null || chunk.writableBytes() < size) {
            release();
            chunk = alloc.directBuffer(Math.max(CHUNK, size), Math.max(CHUNK, size));
        }
        return chunk;
    }

    /** The bytes written since {@code start}, as a slice that holds the chunk until it is released. */
    ByteBuf sliceFrom(int start) {
        return chunk.retainedSlice(start, chunk.writerIndex() - start);
    }

    void release() {
        if (chunk != null) {
            chunk.release();
            chunk = null;
        }
    }
}
