package io.portolan.agent.cli;

import io.portolan.proto.Registration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code register ... [-- COMMAND]}: registers, runs the command, forwards signals to it. On
 * SIGTERM or SIGINT it deregisters first, waits for the drain, then passes the signal on (the
 * Dubbo graceful-shutdown order: consumers stop sending before the provider stops). It exits with
 * the child's code; if the child exits on its own, the instance is deregistered then.
 * Without a command it holds the registration until SIGTERM or SIGINT.
 *
 * <p>With {@code --wait-listen} the start-up order is the provider's too (Dubbo exports, then
 * registers): the command starts first and the instance is registered once the command listens on
 * every port (in this network namespace, see {@link Listening}); a command that exits first, or does
 * not listen in time, is never registered.
 */
final class Wrapper {
    private static final Logger log = LoggerFactory.getLogger(Wrapper.class);
    private static final List<String> FORWARDED = List.of("TERM", "INT", "HUP", "QUIT", "USR1", "USR2");

    private final Registrar registrar;
    private final Registration registration;
    private final List<String> command;
    private final long drainMillis;
    private final long waitListenMillis;
    private final AtomicBoolean deregistered = new AtomicBoolean();
    /** Held while registering and deregistering, so a stop signal during the registration deregisters after it. */
    private final Object registering = new Object();
    private volatile boolean registered;
    private final CountDownLatch stop = new CountDownLatch(1);
    private volatile Process child;

    Wrapper(Registrar registrar, Registration registration, List<String> command, long drainMillis) {
        this(registrar, registration, command, drainMillis, 0);
    }

    Wrapper(Registrar registrar, Registration registration, List<String> command, long drainMillis, long waitListenMillis) {
        this.registrar = registrar;
        this.registration = registration;
        this.command = command;
        this.drainMillis = drainMillis;
        this.waitListenMillis = waitListenMillis;
    }

    int run() throws IOException, InterruptedException {
        if (!command.isEmpty() && executable(command.get(0)) == null) {
            registrar.close();
            System.err.println("portolan: cannot run " + command.get(0) + ": not found or not executable (nothing registered)");
            return 127;
        }
        try (registrar) {
            if (waitListenMillis > 0 && !command.isEmpty()) {
                return startThenRegister();
            }
            String[] got = registrar.register(registration);
            registered = true;
            printRegistered(got);
            handleSignals();
            if (command.isEmpty()) {
                stop.await();
                deregisterOnce();
                return 0;
            }
            try {
                child = startChild();
            } catch (IOException e) {
                deregisterOnce();
                System.err.println("portolan: cannot run " + command.get(0) + ": " + e.getMessage());
                return 127;
            }
            int code = child.waitFor();
            deregisterOnce();
            return code;
        }
    }

    /**
     * {@code --wait-listen}: the command first; the registration once it listens on every port, at
     * most {@link #waitListenMillis} after it started. A command that exits first is not registered
     * (its code is returned); one that does not listen in time gets SIGTERM, and the result is 1.
     */
    private int startThenRegister() throws InterruptedException {
        try {
            child = startChild();
        } catch (IOException e) {
            System.err.println("portolan: cannot run " + command.get(0) + ": " + e.getMessage() + " (nothing registered)");
            return 127;
        }
        handleSignals();
        Listening listening = Listening.here();
        long deadline = System.nanoTime() + waitListenMillis * 1_000_000L;
        while (true) {
            List<io.portolan.proto.Port> missing = listening.missing(registration.ports());
            if (missing.isEmpty()) {
                break;
            }
            if (!child.isAlive()) {
                System.err.println("portolan: " + command.get(0) + " exited with " + child.exitValue() + " before listening on " + missing
                        + " (nothing registered)");
                return child.exitValue();
            }
            if (deregistered.get()) {
                return child.waitFor(); // stopped while waiting: the signal went on to the command
            }
            if (System.nanoTime() > deadline) {
                System.err.println("portolan: --wait-listen " + io.portolan.proto.Values.text(java.time.Duration.ofMillis(waitListenMillis)) + ": " + command.get(0) + " does not listen on " + missing
                        + " in this network namespace; stopping it (nothing registered)");
                child.destroy();
                if (!child.waitFor(10, TimeUnit.SECONDS)) {
                    child.destroyForcibly();
                    child.waitFor();
                }
                return 1;
            }
            Thread.sleep(20);
        }
        String[] got;
        synchronized (registering) {
            if (deregistered.get()) {
                return child.waitFor();
            }
            try {
                got = registrar.register(registration);
            } catch (RuntimeException e) {
                child.destroy();
                child.waitFor(10, TimeUnit.SECONDS);
                throw e;
            }
            registered = true;
        }
        printRegistered(got);
        int code = child.waitFor();
        deregisterOnce();
        return code;
    }

    private Process startChild() throws IOException {
        ProcessBuilder pb = new ProcessBuilder(withParentDeathSignal(command)).inheritIO();
        // Socket activation's variables name this process's pid and fds, never the child's
        // (the JDK closes fds above 2 in the child): Java cannot unset them, so drop them here.
        pb.environment().keySet().removeAll(List.of("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"));
        return pb.start();
    }

    private void printRegistered(String[] got) {
        System.out.println("registered " + registration.service() + "/" + got[0] + (got[1] == null ? "" : " vip " + got[1]));
        System.out.flush();
    }

    private void handleSignals() {
        for (String name : FORWARDED) {
            try {
                Signal.handle(new Signal(name), this::onSignal);
            } catch (IllegalArgumentException reserved) {
                log.debug("signal {} cannot be forwarded from the JVM", name);
            }
        }
    }

    /**
     * The command behind {@code setpriv --pdeathsig TERM} when util-linux's setpriv is installed: if
     * this wrapper is killed outright (kill -9, OOM), its lease expires and the instance leaves the
     * registry, so the command must not run on unregistered; the kernel sends it SIGTERM when the
     * thread that started it (this one, which waits for it) dies.
     */
    static List<String> withParentDeathSignal(List<String> command) {
        Path setpriv = executable("setpriv");
        if (setpriv == null) {
            return command;
        }
        List<String> argv = new java.util.ArrayList<>(List.of(setpriv.toString(), "--pdeathsig", "TERM", "--"));
        argv.addAll(command);
        return argv;
    }

    /** {@code name} as the exec family would find it: a path as it is, a bare name on PATH; null if none is executable. */
    static Path executable(String name) {
        if (name.contains("/")) {
            Path p = Path.of(name);
            return Files.isRegularFile(p) && Files.isExecutable(p) ? p : null;
        }
        String path = System.getenv().getOrDefault("PATH", "/usr/local/bin:/usr/bin:/bin");
        for (String dir : path.split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    private void onSignal(Signal s) {
        String name = s.getName();
        boolean stopping = name.equals("TERM") || name.equals("INT");
        Thread t = new Thread(() -> {
            if (stopping && deregisterOnce()) {
                if (child != null && drainMillis > 0) {
                    log.info("SIG{}: deregistered; draining {} ms before passing the signal on", name, drainMillis);
                    sleep(drainMillis);
                }
            }
            Process p = child;
            if (p == null) {
                if (stopping) {
                    stop.countDown();
                }
                return;
            }
            forward(p, name);
        }, "signal-" + name);
        t.setDaemon(true);
        t.start();
    }

    private static void forward(Process p, String signal) {
        if (!p.isAlive()) {
            return;
        }
        if (signal.equals("TERM")) {
            p.destroy();
            return;
        }
        try {
            // argv only: the signal name is one of FORWARDED, the pid a number.
            new ProcessBuilder("kill", "-s", signal, Long.toString(p.pid())).inheritIO().start().waitFor(5, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            log.warn("could not forward SIG{} to {}: {}", signal, p.pid(), e.toString());
        }
    }

    /** Deregisters the first time it is called; true if that removed a registered instance (then drain). */
    private boolean deregisterOnce() {
        synchronized (registering) {
            if (!deregistered.compareAndSet(false, true) || !registered) {
                return false;
            }
            try {
                registrar.deregister();
                log.info("deregistered {}/{}", registration.service(), registration.id());
            } catch (RuntimeException e) {
                System.err.println("portolan: deregistering " + registration.service() + "/" + registration.id() + " failed: "
                        + e.getMessage() + " (it expires with its TTL)");
            }
            return true;
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
