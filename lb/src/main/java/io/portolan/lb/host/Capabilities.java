package io.portolan.lb.host;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The capabilities this process holds, as the kernel reports them in {@code /proc/self/status}. */
public final class Capabilities {
    /** CAP_NET_ADMIN's bit (linux/capability.h). */
    static final int CAP_NET_ADMIN = 12;

    private Capabilities() {
    }

    /** Whether the process holds CAP_NET_ADMIN in its effective set (root does, unless it was dropped). */
    public static boolean netAdmin() {
        try {
            return has(Files.readString(Path.of("/proc/self/status")), CAP_NET_ADMIN);
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether the {@code CapEff:} line of a {@code /proc/PID/status} text has bit {@code cap} set. */
    static boolean has(String status, int cap) {
        for (String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                return (Long.parseUnsignedLong(line.substring("CapEff:".length()).strip(), 16) >>> cap & 1) == 1;
            }
        }
        return false;
    }
}
