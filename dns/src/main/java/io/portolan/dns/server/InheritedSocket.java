package io.portolan.dns.server;

import io.netty.channel.unix.Socket;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A socket this process was handed already bound (systemd's socket activation: file descriptors
 * from 3 on, see sd_listen_fds(3)), probed once at start: its type, whether it listens, the address
 * it is bound to (getsockname) and whether it is in non-blocking mode. The socket itself is only
 * looked at here; {@link Transports} serves the ones that match a listen address.
 *
 * <p>Probing uses Netty's native socket calls, so it needs the epoll transport (Linux).
 */
record InheritedSocket(int fd, Kind kind, InetSocketAddress local, boolean nonBlocking) {
    /** What an inherited file descriptor turned out to be. */
    enum Kind {
        /** A UDP (SOCK_DGRAM) socket of family AF_INET or AF_INET6. */
        UDP,
        /** A listening TCP (SOCK_STREAM) socket of family AF_INET or AF_INET6. */
        TCP;

        String label() {
            return this == UDP ? "udp" : "tcp";
        }
    }

    private static final int SOL_SOCKET = 1;
    private static final int SO_TYPE = 3;
    private static final int SO_ACCEPTCONN = 30;
    private static final int SO_DOMAIN = 39;
    private static final int SOCK_STREAM = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int AF_INET = 2;
    private static final int AF_INET6 = 10;
    private static final int O_NONBLOCK = 04000;

    /** "udp 127.0.0.11:53 (fd 3)", for messages. */
    String describe() {
        return kind.label() + " " + hostPort(local) + " (fd " + fd + ")";
    }

    /**
     * Probes {@code fd}. Throws {@link IllegalArgumentException} with the reason when it is no socket
     * this server can serve (not a socket, not IP, a stream socket that does not listen, ...).
     */
    static InheritedSocket probe(int fd) {
        Socket s;
        int type;
        int domain;
        try {
            // Not closed: a Netty Socket object only wraps the number, and closing it would close the fd.
            s = new Socket(fd); // getsockname: throws a ChannelException for what is no socket
            type = s.getIntOpt(SOL_SOCKET, SO_TYPE);
            domain = s.getIntOpt(SOL_SOCKET, SO_DOMAIN);
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("not a socket (" + e.getMessage() + ")");
        }
        if (domain != AF_INET && domain != AF_INET6) {
            throw new IllegalArgumentException("not an IP socket (address family " + domain + ")");
        }
        Kind kind;
        if (type == SOCK_DGRAM) {
            kind = Kind.UDP;
        } else if (type == SOCK_STREAM) {
            try {
                if (s.getIntOpt(SOL_SOCKET, SO_ACCEPTCONN) == 0) {
                    throw new IllegalArgumentException("a TCP socket that does not listen");
                }
            } catch (IOException e) {
                throw new IllegalArgumentException("SO_ACCEPTCONN: " + e.getMessage());
            }
            kind = Kind.TCP;
        } else {
            throw new IllegalArgumentException("socket type " + type + " (neither datagram nor stream)");
        }
        InetSocketAddress local = s.localAddress();
        if (local == null || local.getPort() == 0) {
            throw new IllegalArgumentException("not bound to an address");
        }
        return new InheritedSocket(fd, kind, local, nonBlocking(fd));
    }

    /** Whether {@code fd} has O_NONBLOCK, from {@code /proc/self/fdinfo} (Java has no fcntl). */
    static boolean nonBlocking(int fd) {
        Path info = Path.of("/proc/self/fdinfo/" + fd);
        try {
            for (String line : Files.readAllLines(info)) {
                if (line.startsWith("flags:")) {
                    return (Integer.parseInt(line.substring("flags:".length()).trim(), 8) & O_NONBLOCK) != 0;
                }
            }
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("cannot read the flags of fd " + fd + " from " + info + ": " + e, e);
        }
        throw new IllegalStateException("no flags line in " + info);
    }

    /** Whether this socket is the one {@code listen} names: same kind asked, same address and port. */
    boolean serves(Kind wanted, InetSocketAddress listen) {
        return kind == wanted && local.getPort() == listen.getPort() && local.getAddress().equals(listen.getAddress());
    }

    static List<InheritedSocket> matching(List<InheritedSocket> all, Kind kind, InetSocketAddress listen) {
        return all.stream().filter(s -> s.serves(kind, listen)).toList();
    }

    static String hostPort(InetSocketAddress a) {
        String h = a.getAddress().getHostAddress();
        return (h.contains(":") ? "[" + h + "]" : h) + ":" + a.getPort();
    }
}
