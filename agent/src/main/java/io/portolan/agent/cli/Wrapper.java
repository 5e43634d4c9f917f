package io.portolan.agent.cli;

import io.portolan.proto.Registration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

import java.io.IOException;
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
 */
final class Wrapper {
    private static final Logger log = LoggerFactory.getLogger(Wrapper.class);
    private static final List<String> FORWARDED = List.of("TERM", "INT", "HUP", "QUIT", "USR1", "USR2");

    private final Registrar registrar;
    private final Registration registration;
    private final List<String> command;
    private final long drainMillis;
    private final AtomicBoolean deregistered = new AtomicBoolean();
    private final CountDownLatch stop = new CountDownLatch(1);
    private volatile Process child;

    Wrapper(Registrar registrar, Registration registration, List<String> command, long drainMillis) {
        this.registrar = registrar;
        this.registration = registration;
        this.command = command;
        this.drainMillis = drainMillis;
    }

    int run() throws IOException, InterruptedException {
        try (registrar) {
            String[] got = registrar.register(registration);
            System.out.println("registered " + registration.service() + "/" + got[0] + (got[1] == null ? "" : " vip " + got[1]));
            System.out.flush();
            for (String name : FORWARDED) {
                try {
                    Signal.handle(new Signal(name), this::onSignal);
                } catch (IllegalArgumentException reserved) {
                    log.debug("signal {} cannot be forwarded from the JVM", name);
                }
            }
            if (command.isEmpty()) {
                stop.await();
                deregisterOnce();
                return 0;
            }
            ProcessBuilder pb = new ProcessBuilder(command).inheritIO();
            try {
                child = pb.start();
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

    private boolean deregisterOnce() {
        if (!deregistered.compareAndSet(false, true)) {
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

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
