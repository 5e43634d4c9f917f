package io.portolan.lb.ipvs;

import io.portolan.lb.host.Exec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@link Ipvsadm} through one long-lived {@code stdbuf -oL ipvsadm -R} with stderr merged into
 * stdout, so a change costs a pipe write instead of a process start (~150 ms in the TCG VM, a few
 * ms on hardware). What ipvsadm does with its stdin (checked in its source and in the VM):
 * <ul>
 *   <li>it runs each line as soon as it has read it, and goes on after a line the kernel refused,
 *       printing that error (one line, {@code "Service not defined"}, ...) to stderr;</li>
 *   <li>a line it cannot parse, and a listing of a service that does not exist, make it exit;</li>
 *   <li>stdout is a pipe, so fully buffered: {@code stdbuf -oL} makes it line-buffered, and with
 *       stderr on the same pipe the output keeps the order of the lines.</li>
 * </ul>
 * Every group is followed by {@value #SENTINEL}, whose one-line answer ({@value #ACK} ...) closes
 * the group: what came before it is the group's output. End of output (the process exited), a
 * failed write, or no output for {@code idle} is an {@link IOException}; the process is then
 * killed and the next call starts a new one. A process found dead before a call is replaced
 * silently: every group sent to it was acknowledged, so nothing was lost.
 */
final class IpvsadmSession implements Ipvsadm {
    private static final Logger log = LoggerFactory.getLogger(IpvsadmSession.class);
    static final List<String> ARGV = List.of("stdbuf", "-oL", "ipvsadm", "-R");
    /** A listing that always succeeds, touches nothing and prints one line. */
    static final String SENTINEL = "-L --timeout";
    static final String ACK = "Timeout (tcp tcpfin udp):";
    private static final String EOF = new String("<eof>");
    private static final ExecutorService IO = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "ipvsadm-session-io");
        t.setDaemon(true);
        return t;
    });

    private final Exec exec;
    private final Duration idle;
    private Process process;
    private OutputStream stdin;
    private LinkedBlockingQueue<String> output;
    private int starts;

    IpvsadmSession(Exec exec, Duration idle) {
        this.exec = exec;
        this.idle = idle;
    }

    @Override
    public List<List<String>> run(List<List<String>> groups) throws IOException {
        StringBuilder text = new StringBuilder();
        for (List<String> g : groups) {
            g.forEach(l -> text.append(Ipvsadm.checked(l)).append('\n'));
            text.append(SENTINEL).append('\n');
        }
        if (process == null || !process.isAlive()) {
            if (process != null) {
                log.warn("ipvs: the ipvsadm -R session exited between syncs (exit {}); starting a new one", process.exitValue());
            }
            start();
        }
        Process p = process;
        OutputStream in = stdin;
        LinkedBlockingQueue<String> q = output;
        byte[] bytes = text.toString().getBytes(StandardCharsets.UTF_8);
        // written from another thread: a hung ipvsadm must not block the sync thread past the idle timeout
        CompletableFuture<Void> write = CompletableFuture.runAsync(() -> {
            try {
                in.write(bytes);
                in.flush();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, IO);
        List<List<String>> out = new ArrayList<>(groups.size());
        List<String> current = new ArrayList<>();
        try {
            while (out.size() < groups.size()) {
                String l = q.poll(idle.toMillis(), TimeUnit.MILLISECONDS);
                if (l == null) {
                    throw new IOException("ipvsadm -R printed nothing for " + idle.toSeconds() + " s (group " + (out.size() + 1) + " of "
                            + groups.size() + ", starting " + first(groups.get(out.size())) + "); killed it, the kernel is re-read");
                }
                if (l == EOF) {
                    int code = waitExit(p);
                    throw new IOException("ipvsadm -R exited (" + code + ") in group " + (out.size() + 1) + " of " + groups.size()
                            + " (" + first(groups.get(out.size())) + ")" + (current.isEmpty() ? "" : ": " + String.join("; ", current))
                            + (write.isCompletedExceptionally() ? " (stdin closed)" : "") + "; the kernel is re-read");
                }
                if (l.startsWith(ACK)) {
                    out.add(current);
                    current = new ArrayList<>();
                } else {
                    current.add(l);
                }
            }
            write.get(idle.toMillis(), TimeUnit.MILLISECONDS); // every ack is in, so the write is done (flush included)
            return out;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            kill();
            throw new IOException("writing to ipvsadm -R failed after every answer came: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill();
            throw new IOException("interrupted while waiting for ipvsadm -R", e);
        } catch (IOException e) {
            kill();
            throw e;
        }
    }

    private static String first(List<String> group) {
        return group.isEmpty() ? "(empty)" : group.get(0);
    }

    private void start() throws IOException {
        kill();
        starts++;
        Process p = exec.start(ARGV);
        LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l = r.readLine(); l != null; l = r.readLine()) {
                    q.add(l);
                }
            } catch (IOException ignored) {
                // the process went away; EOF below says so
            } finally {
                q.add(EOF);
            }
        }, "ipvsadm-session-reader");
        reader.setDaemon(true);
        reader.start();
        process = p;
        stdin = p.getOutputStream();
        output = q;
        log.debug("ipvs: started {} (pid {})", String.join(" ", ARGV), p.pid());
    }

    private static int waitExit(Process p) {
        try {
            return p.waitFor(5, TimeUnit.SECONDS) ? p.exitValue() : -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private void kill() {
        if (process != null) {
            process.destroyForcibly();
        }
        process = null;
        stdin = null;
        output = null;
    }

    @Override
    public int starts() {
        return starts;
    }

    /** Closes stdin (ipvsadm exits at end of input), then kills it if it is still there after 2 s. */
    @Override
    public void close() {
        Process p = process;
        if (p == null) {
            return;
        }
        try {
            stdin.close();
            if (!p.waitFor(2, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (IOException e) {
            p.destroyForcibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
        }
        process = null;
    }
}
