package io.portolan.agent.cli;

import io.portolan.proto.Port;
import io.portolan.proto.Protocol;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Which of an instance's ports have a socket in this network namespace, as the kernel lists them
 * in {@code /proc/net/tcp}, {@code tcp6}, {@code udp} and {@code udp6} (the reader's namespace):
 * a TCP port counts once a socket listens on it, a UDP port once a socket is bound to it.
 */
final class Listening {
    private static final String TCP_LISTEN = "0A";

    private final Path procNet;

    Listening(Path procNet) {
        this.procNet = procNet;
    }

    static Listening here() {
        return new Listening(Path.of("/proc/net"));
    }

    /** The ports of {@code ports} that nothing listens on (TCP) or is bound to (UDP) yet. */
    List<Port> missing(List<Port> ports) {
        Set<Integer> tcp = null;
        Set<Integer> udp = null;
        List<Port> missing = new ArrayList<>();
        for (Port p : ports) {
            boolean isTcp = p.protocol() == Protocol.TCP;
            if (isTcp && tcp == null) {
                tcp = localPorts(List.of("tcp", "tcp6"), TCP_LISTEN);
            } else if (!isTcp && udp == null) {
                udp = localPorts(List.of("udp", "udp6"), null);
            }
            if (!(isTcp ? tcp : udp).contains(p.number())) {
                missing.add(p);
            }
        }
        return missing;
    }

    /** Local ports of the sockets in these tables (only those in {@code state}, when given). */
    private Set<Integer> localPorts(List<String> tables, String state) {
        Set<Integer> ports = new HashSet<>();
        for (String t : tables) {
            List<String> lines;
            try {
                lines = Files.readAllLines(procNet.resolve(t));
            } catch (IOException e) {
                continue; // no IPv6 in this kernel, say
            }
            for (int i = 1; i < lines.size(); i++) {
                // "  sl  local_address rem_address   st ...": local_address is HEXADDR:HEXPORT
                String[] f = lines.get(i).trim().split("\\s+");
                if (f.length < 4 || (state != null && !f[3].equals(state))) {
                    continue;
                }
                int colon = f[1].lastIndexOf(':');
                try {
                    ports.add(Integer.parseInt(f[1].substring(colon + 1), 16));
                } catch (NumberFormatException ignored) {
                    // not a socket line
                }
            }
        }
        return ports;
    }
}
