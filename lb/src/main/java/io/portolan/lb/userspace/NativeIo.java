package io.portolan.lb.userspace;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The system calls of the native TCP relay ({@code lb/src/main/c/portolan_lb.c}, built by Maven
 * with gcc into this jar). Every call is one system call, or one short fixed sequence for a
 * socket's set-up, and returns its result or {@code -errno}: no exception is built on a path that
 * fails in the normal course (EAGAIN, a reset peer). Memory is passed as the address of a direct
 * buffer that the caller keeps alive.
 */
final class NativeIo {
    static final int EAGAIN = 11;
    static final int EADDRINUSE = 98;
    static final int EADDRNOTAVAIL = 99;
    static final int EINTR = 4;

    static final int EPOLL_CTL_ADD = 1;
    static final int EPOLL_CTL_DEL = 2;
    static final int EPOLLIN = 0x001;
    static final int EPOLLOUT = 0x004;
    static final int EPOLLERR = 0x008;
    static final int EPOLLHUP = 0x010;
    static final int EPOLLRDHUP = 0x2000;
    static final int EPOLLET = 1 << 31;

    static final int SOL_SOCKET = 1;
    static final int SO_KEEPALIVE = 9;
    static final int IPPROTO_TCP = 6;
    static final int TCP_NODELAY = 1;
    static final int TCP_KEEPIDLE = 4;
    static final int TCP_KEEPINTVL = 5;
    static final int TCP_KEEPCNT = 6;

    private static final String RESOURCE = "/io/portolan/lb/userspace/libportolan-lb-linux-" + System.getProperty("os.arch")
            + ".so";
    private static final Throwable UNAVAILABLE = load();

    private NativeIo() {
    }

    private static Throwable load() {
        if (!System.getProperty("os.name", "").toLowerCase().startsWith("linux")) {
            return new UnsupportedOperationException("not Linux: " + System.getProperty("os.name"));
        }
        try (InputStream in = NativeIo.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return new UnsupportedOperationException("no native library " + RESOURCE + " in the jar (built without gcc?)");
            }
            Path tmp = Files.createTempFile("libportolan-lb", ".so");
            try {
                Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                System.load(tmp.toAbsolutePath().toString());
            } finally {
                Files.deleteIfExists(tmp); // mapped already: the file is not needed once loaded
            }
            if (eventSize() != 12 && eventSize() != 16) {
                return new UnsupportedOperationException("unexpected struct epoll_event size " + eventSize());
            }
            return null;
        } catch (IOException | LinkageError e) {
            return e;
        }
    }

    /** Null when the library is loaded; otherwise why not. */
    static Throwable unavailability() {
        return UNAVAILABLE;
    }

    static boolean available() {
        return UNAVAILABLE == null;
    }

    static native int epollCreate();

    static native int eventFd();

    static native int eventFdWrite(int fd);

    static native int eventFdRead(int fd);

    static native int epollCtl(int epfd, int op, int fd, int events, long data);

    static native int epollWait(int epfd, long events, int max, int timeoutMs);

    /** sizeof(struct epoll_event): 12 on x86_64 (packed), 16 elsewhere. */
    static native int eventSize();

    /** 0 if nothing else holds address:port (a bind without SO_REUSEPORT succeeds), else -errno. */
    static native int probeBind(byte[] address, int port);

    static native int listen(byte[] address, int port, int backlog, int keepIdle, int keepIntvl, int keepCnt);

    static native int accept(int listenFd, long peerOut);

    static native int connect(byte[] destination, int port, byte[] source, int keepIdle, int keepIntvl, int keepCnt);

    static native int read(int fd, long address, int length);

    static native int write(int fd, long address, int length);

    static native int shutdownWrite(int fd);

    static native int close(int fd);

    static native int resetClose(int fd);

    static native int socketError(int fd);

    static native int getIntOption(int fd, int level, int option);

    static native long address(ByteBuffer direct);

    static native String strerror(int errno);

    /** "strerror (errno N)" of a negative result. */
    static String error(int negErrno) {
        return strerror(-negErrno) + " (errno " + -negErrno + ")";
    }
}
