package io.portolan.dns.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs commands with a time bound and returns their output. */
public final class Processes {
    private Processes() {
    }

    public record Result(int exit, String out) {
    }

    public static Result run(long timeoutSeconds, String... argv) {
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            p.getOutputStream().close();
            StringBuilder out = new StringBuilder();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        synchronized (out) {
                            out.append(line).append('\n');
                        }
                    }
                } catch (IOException e) {
                    // process gone
                }
            });
            reader.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                throw new AssertionError("timed out after " + timeoutSeconds + " s: " + String.join(" ", argv));
            }
            reader.join(5000);
            synchronized (out) {
                return new Result(p.exitValue(), out.toString());
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run " + List.of(argv), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public static String ok(long timeoutSeconds, String... argv) {
        Result r = run(timeoutSeconds, argv);
        if (r.exit() != 0) {
            throw new AssertionError(String.join(" ", argv) + " exited " + r.exit() + ":\n" + r.out());
        }
        return r.out();
    }

    /** The path of the running JVM's java binary. */
    public static String java() {
        return System.getProperty("java.home") + "/bin/java";
    }

    public static int freePort() {
        for (int i = 0; i < 20; i++) {
            try (java.net.DatagramSocket u = new java.net.DatagramSocket(0, java.net.InetAddress.getLoopbackAddress())) {
                int port = u.getLocalPort();
                try (java.net.ServerSocket t = new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
                    t.setReuseAddress(true);
                    return port;
                } catch (IOException e) {
                    // TCP side taken; try another
                }
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }
        throw new AssertionError("no free port");
    }
}
