package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Host;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A host's agent run the way systemd runs it with portolan.socket: the fleet's socket holder
 * (src/test/resources/io/portolan/agent/socket_holder.py, the socket-activation test's holder
 * allowed to bind the fleet's gateways) binds the DNS sockets, UDP and TCP on the host's gateway:53,
 * outside the agent, and runs {@code deploy/bin/portolan agent} with the host's usual arguments and
 * the sockets at fds 3 and 4 (LISTEN_FDS/LISTEN_PID), starting it again after {@code restartSec}
 * whenever it exits (Restart=always, RestartSec). Mode {@code none}: the same restarts without
 * sockets (the agent binds for itself, and its sockets die with it).
 *
 * <p>The host's own agent ({@link Host#startAgent()}) must be stopped first; {@link #close()} stops
 * the holder (SIGTERM, passed to the agent) and leaves the host without an agent. The holder is a
 * fleet process, so {@link Fleet#close()} ends it too.
 */
final class HeldAgent implements AutoCloseable {
    private static final Pattern STARTED = Pattern.compile("(?m)^started (\\d+)$");
    private static final Pattern EXITED = Pattern.compile("(?m)^exited (\\d+) (-?\\d+)$");
    private static int seq;

    final Host host;
    final String mode;
    final Process holder;
    /** The holder's own output: "started PID" and "exited PID CODE" lines. */
    final Path events;
    /** Every agent it starts appends here. */
    final Path log;

    private HeldAgent(Host host, String mode, Process holder, Path events, Path log) {
        this.host = host;
        this.mode = mode;
        this.holder = holder;
        this.events = events;
        this.log = log;
    }

    /** Starts the holder with its agent on {@code host} (whose own agent is stopped) and waits for its /readyz. */
    static HeldAgent start(Host host, String mode, int restarts, Duration restartSec) {
        if (host.agentRunning()) {
            throw new IllegalStateException(host.node + ": stop its agent first");
        }
        if (!mode.equals("held") && !mode.equals("none")) {
            throw new IllegalArgumentException("mode held or none: " + mode);
        }
        int n;
        synchronized (HeldAgent.class) {
            n = ++seq;
        }
        Path events = host.home.resolve("holder-" + n + ".events");
        Path log = host.home.resolve("holder-" + n + "-agent.log");
        List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", host.ns, "python3", script().toString(),
                "--mode", mode, "--addr", host.gateway, "--port", "53", "--log", log.toString(),
                "--restarts", String.valueOf(restarts), "--restart-sec", String.valueOf(restartSec.toMillis() / 1000.0),
                "--", host.fleet.launcher.toString(), "agent"));
        cmd.addAll(host.agentArgs());
        HeldAgent a = new HeldAgent(host, mode, host.fleet.spawn(cmd, events), events, log);
        host.agentLog = log; // the fleet's diagnostics show this agent's log
        a.awaitReady(Duration.ofSeconds(120));
        return a;
    }

    static Path script() {
        try {
            return Path.of(HeldAgent.class.getResource("/io/portolan/agent/socket_holder.py").toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("test resource io/portolan/agent/socket_holder.py", e);
        }
    }

    /** The pids of the agents started so far, in order. */
    List<Long> started() {
        List<Long> l = new ArrayList<>();
        Matcher m = STARTED.matcher(Sh.tail(events, 1_000_000));
        while (m.find()) {
            l.add(Long.parseLong(m.group(1)));
        }
        return l;
    }

    /** The exit code of agent {@code pid} as the holder saw it (negative: the signal), or null while it runs. */
    Integer exitCode(long pid) {
        Matcher m = EXITED.matcher(Sh.tail(events, 1_000_000));
        while (m.find()) {
            if (Long.parseLong(m.group(1)) == pid) {
                return Integer.parseInt(m.group(2));
            }
        }
        return null;
    }

    /** The agent running now (the last one started), after checking the holder is alive. */
    long agentPid() {
        if (!holder.isAlive()) {
            throw new IllegalStateException(host.node + ": the socket holder exited with " + holder.exitValue() + ": "
                    + Sh.tail(events, 2000) + "\n" + Sh.tail(log, 3000));
        }
        List<Long> s = host.fleet.await(host.node + ": the holder started an agent", Duration.ofSeconds(30),
                () -> started().isEmpty() ? null : started());
        return s.get(s.size() - 1);
    }

    /** SIGKILL to the running agent (not to the holder, which starts the next one). Returns its pid. */
    long killAgent() {
        long pid = agentPid();
        boolean sent = ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false);
        if (!sent) {
            throw new IllegalStateException(host.node + ": agent " + pid + " is not running: " + Sh.tail(log, 3000));
        }
        return pid;
    }

    /** Waits until the holder runs an agent other than {@code previous} and that agent's /readyz says ready. */
    long awaitRestarted(long previous, Duration timeout) {
        long pid = host.fleet.await(host.node + ": the holder started an agent after " + previous, timeout, () -> {
            List<Long> s = started();
            long last = s.isEmpty() ? previous : s.get(s.size() - 1);
            return last != previous ? last : null;
        });
        awaitReady(timeout);
        return pid;
    }

    void awaitReady(Duration timeout) {
        host.fleet.await(host.node + "'s held agent ready (GET /readyz)", timeout, () -> {
            if (!holder.isAlive()) {
                throw new IllegalStateException(host.node + ": the socket holder exited with " + holder.exitValue() + ": "
                        + Sh.tail(events, 2000) + "\n" + Sh.tail(log, 3000));
            }
            return host.run(Duration.ofSeconds(5), "curl", "-sf", "--max-time", "1", Fleet.ADMIN + "/readyz").ok();
        });
    }

    /** SIGTERM to the holder (it passes it on to the agent and waits for it); SIGKILL to both after 20 s. */
    @Override
    public void close() {
        List<ProcessHandle> tree = holder.descendants().toList();
        Sh.stop(holder, Duration.ofSeconds(20));
        for (ProcessHandle p : tree) {
            p.destroyForcibly();
        }
    }
}
