package io.portolan.agent;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** sd_listen_fds(3) as {@link Systemd#listenFds} reads it, and children without its variables. */
class SystemdTest {
    @Test
    void listenFds_forThisPid_fdsFrom3WithNames() {
        assertEquals(Map.of(3, "dns-udp", 4, "dns-tcp"),
                Systemd.listenFds(Map.of("LISTEN_FDS", "2", "LISTEN_PID", "4711", "LISTEN_FDNAMES", "dns-udp:dns-tcp"), 4711));
        assertEquals(List.of(3, 4, 5), List.copyOf(
                Systemd.listenFds(Map.of("LISTEN_FDS", "3", "LISTEN_PID", "4711"), 4711).keySet()), "in order, unnamed");
        assertEquals(Map.of(3, "a", 4, ""), Systemd.listenFds(Map.of("LISTEN_FDS", "2", "LISTEN_PID", "4711", "LISTEN_FDNAMES", "a"), 4711));
    }

    @Test
    void listenFds_otherPidMissingOrGarbage_none() {
        assertEquals(Map.of(), Systemd.listenFds(Map.of("LISTEN_FDS", "2", "LISTEN_PID", "4712"), 4711), "another process's");
        assertEquals(Map.of(), Systemd.listenFds(Map.of("LISTEN_FDS", "2"), 4711), "no LISTEN_PID");
        assertEquals(Map.of(), Systemd.listenFds(Map.of("LISTEN_PID", "4711"), 4711), "no LISTEN_FDS");
        assertEquals(Map.of(), Systemd.listenFds(Map.of(), 4711));
        assertEquals(Map.of(), Systemd.listenFds(Map.of("LISTEN_FDS", "two", "LISTEN_PID", "4711"), 4711));
        assertEquals(Map.of(), Systemd.listenFds(Map.of("LISTEN_FDS", "0", "LISTEN_PID", "4711"), 4711));
    }

    @Test
    void withoutListenFds_childEnvironmentHasNoneOfTheVariables() {
        ProcessBuilder pb = new ProcessBuilder("true");
        pb.environment().putAll(Map.of("LISTEN_FDS", "2", "LISTEN_PID", "1", "LISTEN_FDNAMES", "a:b", "KEEP", "1"));
        Map<String, String> env = Systemd.withoutListenFds(pb).environment();
        assertFalse(env.containsKey("LISTEN_FDS") || env.containsKey("LISTEN_PID") || env.containsKey("LISTEN_FDNAMES"), env.toString());
        assertTrue(env.containsKey("KEEP"));
    }
}
