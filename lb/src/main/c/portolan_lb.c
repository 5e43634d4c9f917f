/*
 * The system calls of portolan's native TCP relay (io.portolan.lb.userspace.NativeIo): thin JNI
 * wrappers, each one system call or one fixed short sequence (a socket's set-up), returning the
 * result or -errno. No state lives here; the event loop, connections and buffers are Java's.
 * Memory is passed as addresses of direct buffers the Java side owns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdint.h>
#include <jni.h>
#include "io_portolan_lb_userspace_NativeIo.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NEG_ERRNO() (-errno)

/* Fills a sockaddr from a 4- or 16-byte address; returns its length, 0 for a bad length. */
static socklen_t to_sockaddr(JNIEnv *env, jbyteArray addr, jint port, struct sockaddr_storage *ss) {
    jsize n = (*env)->GetArrayLength(env, addr);
    memset(ss, 0, sizeof(*ss));
    if (n == 4) {
        struct sockaddr_in *a = (struct sockaddr_in *) ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t) port);
        (*env)->GetByteArrayRegion(env, addr, 0, 4, (jbyte *) &a->sin_addr);
        return sizeof(*a);
    }
    if (n == 16) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t) port);
        (*env)->GetByteArrayRegion(env, addr, 0, 16, (jbyte *) &a->sin6_addr);
        return sizeof(*a);
    }
    return 0;
}

static int set_int(int fd, int level, int opt, int v) {
    return setsockopt(fd, level, opt, &v, sizeof(v));
}

/* TCP_NODELAY, and keep-alive when idle > 0. */
static int tcp_options(int fd, jint keepIdle, jint keepIntvl, jint keepCnt) {
    if (set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1) < 0) return -1;
    if (keepIdle > 0) {
        if (set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1) < 0) return -1;
        if (set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, keepIdle) < 0) return -1;
        if (set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, keepIntvl) < 0) return -1;
        if (set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, keepCnt) < 0) return -1;
    }
    return 0;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_epollCreate(JNIEnv *env, jclass c) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? NEG_ERRNO() : fd;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_eventFd(JNIEnv *env, jclass c) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? NEG_ERRNO() : fd;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_eventFdWrite(JNIEnv *env, jclass c, jint fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof(one)) < 0 ? NEG_ERRNO() : 0;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_eventFdRead(JNIEnv *env, jclass c, jint fd) {
    uint64_t v;
    return read(fd, &v, sizeof(v)) < 0 ? NEG_ERRNO() : 0;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_epollCtl(JNIEnv *env, jclass c, jint epfd, jint op, jint fd,
                                                                       jint events, jlong data) {
    struct epoll_event ev;
    ev.events = (uint32_t) events;
    ev.data.u64 = (uint64_t) data;
    return epoll_ctl(epfd, op, fd, &ev) < 0 ? NEG_ERRNO() : 0;
}

/* Waits for events into an array of struct epoll_event (12 bytes each on x86_64, packed). */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_epollWait(JNIEnv *env, jclass c, jint epfd, jlong events,
                                                                        jint max, jint timeoutMs) {
    int n = epoll_wait(epfd, (struct epoll_event *) (intptr_t) events, max, timeoutMs);
    return n < 0 ? NEG_ERRNO() : n;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_eventSize(JNIEnv *env, jclass c) {
    return (jint) sizeof(struct epoll_event);
}

/*
 * A listening TCP socket on addr:port: non-blocking, SO_REUSEADDR, SO_REUSEPORT (one socket per
 * event loop), IP_FREEBIND, and the options accepted sockets inherit (TCP_NODELAY, keep-alive).
 */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_listen(JNIEnv *env, jclass c, jbyteArray addr, jint port,
                                                                     jint backlog, jint keepIdle, jint keepIntvl,
                                                                     jint keepCnt) {
    struct sockaddr_storage ss;
    socklen_t len = to_sockaddr(env, addr, port, &ss);
    if (len == 0) return -EINVAL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return NEG_ERRNO();
    if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 || set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0
        || set_int(fd, IPPROTO_IP, IP_FREEBIND, 1) < 0 /* honoured by IPv6 sockets too */
        || tcp_options(fd, keepIdle, keepIntvl, keepCnt) < 0
        || bind(fd, (struct sockaddr *) &ss, len) < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/*
 * Binds a throw-away socket to addr:port without SO_REUSEPORT, then closes it: fails with
 * EADDRINUSE when another socket holds the address, in particular another SO_REUSEPORT group of
 * the same user (a stale agent), which listen() below would otherwise join without an error.
 */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_probeBind(JNIEnv *env, jclass c, jbyteArray addr, jint port) {
    struct sockaddr_storage ss;
    socklen_t len = to_sockaddr(env, addr, port, &ss);
    if (len == 0) return -EINVAL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return NEG_ERRNO();
    int r = 0;
    if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0 || set_int(fd, IPPROTO_IP, IP_FREEBIND, 1) < 0
        || bind(fd, (struct sockaddr *) &ss, len) < 0) {
        r = NEG_ERRNO();
    }
    close(fd);
    return r;
}

/*
 * Accepts one connection, non-blocking and close-on-exec. The peer's address goes to out as
 * [family: int32][port: int32][address: 16 bytes] (4 used for IPv4).
 */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_accept(JNIEnv *env, jclass c, jint lfd, jlong out) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = accept4(lfd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return NEG_ERRNO();
    int32_t *o = (int32_t *) (intptr_t) out;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *) &ss;
        o[0] = 4;
        o[1] = ntohs(a->sin_port);
        memcpy(&o[2], &a->sin_addr, 4);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
        o[0] = 6;
        o[1] = ntohs(a->sin6_port);
        memcpy(&o[2], &a->sin6_addr, 16);
    }
    return fd;
}

/*
 * A non-blocking TCP connect to dst:port, from src (any port: IP_BIND_ADDRESS_NO_PORT, so the
 * kernel picks the port by the whole 4-tuple at connect time) when src is not null. Returns the
 * socket, its connect under way (or done); or -errno, the socket closed.
 */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_connect(JNIEnv *env, jclass c, jbyteArray dst, jint port,
                                                                      jbyteArray src, jint keepIdle, jint keepIntvl,
                                                                      jint keepCnt) {
    struct sockaddr_storage to, from;
    socklen_t len = to_sockaddr(env, dst, port, &to);
    if (len == 0) return -EINVAL;
    int fd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return NEG_ERRNO();
    if (tcp_options(fd, keepIdle, keepIntvl, keepCnt) < 0) goto fail;
    if (src != NULL) {
        socklen_t flen = to_sockaddr(env, src, 0, &from);
        if (flen == 0 || from.ss_family != to.ss_family) {
            close(fd);
            return -EINVAL;
        }
        if (set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1) < 0) goto fail;
        if (bind(fd, (struct sockaddr *) &from, flen) < 0) goto fail;
    }
    if (connect(fd, (struct sockaddr *) &to, len) < 0 && errno != EINPROGRESS) goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_read(JNIEnv *env, jclass c, jint fd, jlong addr, jint len) {
    ssize_t n = read(fd, (void *) (intptr_t) addr, (size_t) len);
    return n < 0 ? NEG_ERRNO() : (jint) n;
}

/* send(2) with MSG_NOSIGNAL: a peer gone writes -EPIPE, not a SIGPIPE. */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_write(JNIEnv *env, jclass c, jint fd, jlong addr, jint len) {
    ssize_t n = send(fd, (void *) (intptr_t) addr, (size_t) len, MSG_NOSIGNAL);
    return n < 0 ? NEG_ERRNO() : (jint) n;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_shutdownWrite(JNIEnv *env, jclass c, jint fd) {
    return shutdown(fd, SHUT_WR) < 0 ? NEG_ERRNO() : 0;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_close(JNIEnv *env, jclass c, jint fd) {
    return close(fd) < 0 ? NEG_ERRNO() : 0;
}

/* Closes with an RST (SO_LINGER 0): the peer learns at once that nothing is behind the VIP. */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_resetClose(JNIEnv *env, jclass c, jint fd) {
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    return close(fd) < 0 ? NEG_ERRNO() : 0;
}

/* The pending error of a socket (SO_ERROR), e.g. why its connect failed; 0 for none. */
JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_socketError(JNIEnv *env, jclass c, jint fd) {
    int v = 0;
    socklen_t len = sizeof(v);
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len) < 0 ? NEG_ERRNO() : v;
}

JNIEXPORT jint JNICALL Java_io_portolan_lb_userspace_NativeIo_getIntOption(JNIEnv *env, jclass c, jint fd, jint level,
                                                                           jint opt) {
    int v = 0;
    socklen_t len = sizeof(v);
    return getsockopt(fd, level, opt, &v, &len) < 0 ? NEG_ERRNO() : v;
}

JNIEXPORT jlong JNICALL Java_io_portolan_lb_userspace_NativeIo_address(JNIEnv *env, jclass c, jobject buffer) {
    return (jlong) (intptr_t) (*env)->GetDirectBufferAddress(env, buffer);
}

JNIEXPORT jstring JNICALL Java_io_portolan_lb_userspace_NativeIo_strerror(JNIEnv *env, jclass c, jint err) {
    char buf[128];
    const char *s = strerror_r(err, buf, sizeof(buf));
    return (*env)->NewStringUTF(env, s);
}
