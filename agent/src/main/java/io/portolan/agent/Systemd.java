package io.portolan.agent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * systemd support without JNI: readiness for Type=notify (when systemd passed NOTIFY_SOCKET, run
 * {@code systemd-notify --ready}; the unit sets NotifyAccess=all so a child may send it), and the
 * sockets of socket activation (sd_listen_fds(3)).
 */
final class Systemd {
    private static final Logger log = LoggerFactory.getLogger(Systemd.class);

    /** sd_listen_fds(3): the first passed file descriptor. */
    static final int LISTEN_FDS_START = 3;
    /** The variables of socket activation; {@link #withoutListenFds} keeps them from children. */
    static final List<String> LISTEN_VARIABLES = List.of("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES");

    private Systemd() {
    }

    static void notifyReady() {
        if (System.getenv("NOTIFY_SOCKET") == null) {
            return;
        }
        try {
            Process p = withoutListenFds(new ProcessBuilder("systemd-notify", "--ready", "--pid=" + ProcessHandle.current().pid()))
                    .inheritIO().start();
            p.waitFor();
        } catch (Exception e) {
            log.warn("systemd-notify failed: {}", e.toString());
        }
    }

    /**
     * The file descriptors passed to process {@code pid} by socket activation, each with its name
     * (LISTEN_FDNAMES, {@code ""} when unnamed), as sd_listen_fds(3) defines them: LISTEN_FDS of them
     * from fd 3 on, only when LISTEN_PID is {@code pid} (the variables are inherited by every child,
     * and were meant for one process). Empty when there are none or the variables are not for us.
     *
     * <p>Java cannot unset its own environment (sd_listen_fds' {@code unset_environment}); the JVM's
     * children get a copy of it through {@link ProcessBuilder}, so each one the agent starts drops
     * the variables ({@link #withoutListenFds}). The descriptors themselves do not reach children:
     * the JDK closes every descriptor above 2 in the child it starts.
     */
    static Map<Integer, String> listenFds(Map<String, String> env, long pid) {
        String pidVar = env.get("LISTEN_PID");
        String fdsVar = env.get("LISTEN_FDS");
        if (pidVar == null || fdsVar == null) {
            return Map.of();
        }
        long forPid;
        int count;
        try {
            forPid = Long.parseLong(pidVar.trim());
            count = Integer.parseInt(fdsVar.trim());
        } catch (NumberFormatException e) {
            log.warn("LISTEN_PID '{}' / LISTEN_FDS '{}' are not numbers: no inherited sockets", pidVar, fdsVar);
            return Map.of();
        }
        if (forPid != pid) {
            log.info("LISTEN_FDS={} is for process {}, not this one ({}): ignored", fdsVar, forPid, pid);
            return Map.of();
        }
        if (count <= 0) {
            return Map.of();
        }
        String namesVar = env.get("LISTEN_FDNAMES");
        List<String> names = namesVar == null ? List.of() : List.of(namesVar.split(":", -1));
        Map<Integer, String> fds = new LinkedHashMap<>();
        List<String> described = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String name = i < names.size() ? names.get(i) : "";
            fds.put(LISTEN_FDS_START + i, name);
            described.add((LISTEN_FDS_START + i) + (name.isEmpty() ? "" : " (" + name + ")"));
        }
        log.info("socket activation: {} inherited fd(s): {}", count, String.join(", ", described));
        return fds;
    }

    /** {@code pb} without the socket-activation variables in its environment. */
    static ProcessBuilder withoutListenFds(ProcessBuilder pb) {
        pb.environment().keySet().removeAll(LISTEN_VARIABLES);
        return pb;
    }
}
