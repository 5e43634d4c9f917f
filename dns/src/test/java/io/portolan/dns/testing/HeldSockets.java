package io.portolan.dns.testing;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.LinuxSocket;
import io.netty.channel.socket.InternetProtocolFamily;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Sockets made the way systemd makes them for socket activation (bound, TCP listening, AF_INET,
 * non-blocking), in this process: their fd numbers are what a DNS server is handed. The server
 * closes the ones it serves; {@link #closeQuietly} is for the others.
 */
public final class HeldSockets {
    private HeldSockets() {
    }

    /** A UDP socket and a listening TCP socket on {@code host} and one free port. */
    public record Pair(int udpFd, int tcpFd, int port) {
        public List<Integer> fds() {
            return List.of(udpFd, tcpFd);
        }
    }

    public static Pair pair(String host) throws IOException {
        Epoll.ensureAvailability();
        IOException last = null;
        for (int attempt = 0; attempt < 10; attempt++) {
            LinuxSocket udp = udp(host, 0);
            int port = udp.localAddress().getPort();
            LinuxSocket tcp = LinuxSocket.newSocketStream(InternetProtocolFamily.IPv4);
            try {
                tcp.setReuseAddress(true);
                tcp.bind(new InetSocketAddress(host, port));
                tcp.listen(128);
                return new Pair(udp.intValue(), tcp.intValue(), port);
            } catch (IOException e) { // the port is taken for TCP: another one
                last = e;
                udp.close();
                tcp.close();
            }
        }
        throw last;
    }

    public static LinuxSocket udp(String host, int port) throws IOException {
        Epoll.ensureAvailability();
        LinuxSocket udp = LinuxSocket.newSocketDgram(InternetProtocolFamily.IPv4);
        udp.bind(new InetSocketAddress(host, port));
        return udp;
    }

    public static void closeQuietly(int fd) {
        try {
            new io.netty.channel.unix.FileDescriptor(fd).close();
        } catch (IOException e) {
            // already closed
        }
    }

    /**
     * The fd of this process's socket whose kernel inode {@code /proc/self/net/udp} lists for
     * local port {@code port}: how a test finds the number behind a JDK channel (a blocking one).
     */
    public static int udpFdOfPort(int port) throws IOException {
        String inode = null;
        for (String line : Files.readAllLines(Path.of("/proc/self/net/udp"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 9 && f[1].endsWith(":" + String.format("%04X", port))) {
                inode = f[9];
            }
        }
        if (inode == null) {
            throw new IOException("no UDP socket on port " + port);
        }
        String target = "socket:[" + inode + "]";
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) fds::iterator) {
                try {
                    if (Files.readSymbolicLink(p).toString().equals(target)) {
                        return Integer.parseInt(p.getFileName().toString());
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        throw new IOException("no fd of this process is " + target);
    }
}
