package io.portolan.lb.nftables;

import io.portolan.lb.host.Exec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One long-lived {@code nft -i} (argv only) that runs small transactions: each script is sent as
 * one line (commands joined by {@code ;}, which nft runs as one transaction, all or nothing),
 * followed by a marker line nft cannot parse; nft echoes the marker in its syntax error, so
 * everything it printed before that error is the transaction's own output.
 *
 * <p>Why: a one-shot {@code nft -f -} costs a process start, and, when the transaction deleted
 * anything, a kernel RCU grace period at exit (closing the netlink socket waits for the deferred
 * release of what was deleted): about 5 + 10 ms, against 0.3 ms here. The session's socket stays
 * open, so nobody waits for the grace period.
 */
final class NftSession implements AutoCloseable {
    private static final String EOF = new String("EOF"); // identity marker

    private final Process process;
    private final Writer in;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private long seq;
    private int transactions;

    NftSession(Exec exec) throws IOException {
        process = exec.start(List.of("nft", "-i"));
        in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    lines.add(l);
                }
            } catch (IOException e) {
                // the process went away; EOF below says so
            }
            lines.add(EOF);
        }, "nft-session-reader");
        reader.setDaemon(true);
        reader.start();
    }

    /** Transactions this session completed (accepted or refused). */
    int transactions() {
        return transactions;
    }

    /** The script as one line: comments and blank lines dropped, commands joined by {@code ;}. */
    static String oneLine(String script) {
        StringBuilder b = new StringBuilder(script.length());
        for (String l : script.split("\n")) {
            l = l.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            b.append(b.length() == 0 ? "" : "; ").append(l);
        }
        return b.toString();
    }

    /**
     * Runs {@code script} as one transaction and returns what nft printed for it (empty when it
     * succeeded without a word; lines starting with {@code Error:} when it was refused). Throws
     * when nft went away or did not answer in time: whether the transaction happened is then unknown.
     */
    String run(String script, long timeoutMillis) throws IOException {
        String line = oneLine(script);
        if (line.isEmpty()) {
            return "";
        }
        String marker = "ptl-marker-" + (++seq);
        in.write(line);
        in.write('\n');
        in.write(marker);
        in.write('\n');
        in.flush();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        List<String> out = new ArrayList<>();
        while (true) {
            String l = next(deadline, out);
            if (l.equals(marker)) {
                next(deadline, out); // the caret line under the marker
                if (!out.isEmpty()) {
                    out.remove(out.size() - 1); // the marker's own "Error: syntax error" line
                }
                transactions++;
                return String.join("\n", out);
            }
            out.add(l);
        }
    }

    private String next(long deadline, List<String> out) throws IOException {
        String l;
        try {
            l = lines.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for nft -i", e);
        }
        if (l == null) {
            throw new IOException("nft -i did not answer in time" + said(out));
        }
        if (l == EOF) {
            throw new IOException("nft -i exited" + said(out));
        }
        return l;
    }

    private static String said(List<String> out) {
        return out.isEmpty() ? "" : ": " + Exec.firstLines(String.join("\n", out), 6);
    }

    @Override
    public void close() {
        try {
            in.close(); // nft -i exits at the end of its input
        } catch (IOException e) {
            // already gone
        }
        try {
            if (!process.waitFor(2, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
