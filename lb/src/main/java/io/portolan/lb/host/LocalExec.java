package io.portolan.lb.host;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** The real {@link Exec}: {@link ProcessBuilder} over {@code prefix + argv}. */
final class LocalExec implements Exec {
    static final LocalExec ROOT = new LocalExec(List.of());

    /** Feeds stdin and drains stderr while the caller drains stdout (a full pipe would stall the command). */
    private static final ExecutorService IO = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "portolan-exec-io");
        t.setDaemon(true);
        return t;
    });

    private final List<String> prefix;

    LocalExec(List<String> prefix) {
        this.prefix = List.copyOf(prefix);
    }

    private List<String> command(List<String> argv) {
        List<String> cmd = new ArrayList<>(prefix.size() + argv.size());
        cmd.addAll(prefix);
        cmd.addAll(argv);
        return cmd;
    }

    @Override
    public Result run(List<String> argv, String stdin, Duration timeout) throws IOException {
        List<String> cmd = command(argv);
        Process p;
        try {
            p = new ProcessBuilder(cmd).start();
        } catch (IOException e) {
            throw new IOException("cannot run " + argv.get(0) + ": " + e.getMessage(), e);
        }
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()), IO);
        CompletableFuture<Void> in = CompletableFuture.runAsync(() -> {
            try (OutputStream o = p.getOutputStream()) {
                if (stdin != null) {
                    o.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            } catch (IOException ignored) {
                // the command exited without reading everything; its exit code and stderr say why
            }
        }, IO);
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()), IO);
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", argv) + " did not finish within " + timeout.toMillis() + " ms");
            }
            in.get(5, TimeUnit.SECONDS);
            return new Result(p.exitValue(), out.get(5, TimeUnit.SECONDS), err.get(5, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("interrupted while running " + argv.get(0), e);
        } catch (ExecutionException | TimeoutException e) {
            p.destroyForcibly();
            throw new IOException("cannot read the output of " + argv.get(0), e);
        }
    }

    @Override
    public Process start(List<String> argv) throws IOException {
        return new ProcessBuilder(command(argv)).redirectErrorStream(true).start();
    }

    private static String drain(InputStream s) {
        try (s) {
            return new String(s.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    @Override
    public String toString() {
        return prefix.isEmpty() ? "local" : String.join(" ", prefix);
    }
}
