package io.portolan.lb.ipvs;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** Runs a command from an argv array (never a shell), feeding {@code stdin}; bounded in time. */
class Shell {
    private static final java.util.concurrent.ExecutorService IO = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "ipvs-shell-io");
        t.setDaemon(true);
        return t;
    });

    record Result(int code, String out, String err) {
        boolean clean() {
            return code == 0 && err.isBlank();
        }

        String errOrOut() {
            String e = err.isBlank() ? out : err;
            return e.strip().replace('\n', ';');
        }
    }

    Result run(List<String> argv, String stdin, Duration timeout) throws IOException {
        Process p = new ProcessBuilder(argv).start();
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()), IO);
        CompletableFuture<Void> in = CompletableFuture.runAsync(() -> {
            try (OutputStream o = p.getOutputStream()) {
                if (stdin != null) {
                    o.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            } catch (IOException ignored) {
                // the command exited without reading everything; its exit code says why
            }
        }, IO);
        String out = drain(p.getInputStream());
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException(argv.get(0) + " did not finish within " + timeout.toSeconds() + " s");
            }
            in.get(5, TimeUnit.SECONDS);
            return new Result(p.exitValue(), out, err.get(5, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException("interrupted while running " + argv.get(0), e);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IOException("cannot read the output of " + argv.get(0), e);
        }
    }

    /** Starts a long-lived process from an argv array (never a shell), stderr merged into stdout. */
    Process start(List<String> argv) throws IOException {
        return new ProcessBuilder(argv).redirectErrorStream(true).start();
    }

    /** Whether {@code name} is an executable on PATH (for {@code --cleanup}, which is a no-op without the tools). */
    static boolean onPath(String name) {
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String dir : path.split(":")) {
            if (!dir.isEmpty() && java.nio.file.Files.isExecutable(java.nio.file.Path.of(dir, name))) {
                return true;
            }
        }
        return false;
    }

    private static String drain(InputStream s) {
        try (s) {
            return new String(s.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
