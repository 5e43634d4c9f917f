package io.portolan.lb.nftables;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The thin, impure half: runs {@code nft} (argv only, the script on stdin) and reads portolan's
 * table back. {@code prefix} runs it elsewhere (tests: {@code ip netns exec NS}).
 */
final class NftCommand {
    /** The kernel (or nft) refused; the message is nft's own. */
    static final class NftException extends Exception {
        NftException(String message) {
            super(message);
        }
    }

    record Result(int code, String out, String err) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 300;

    private final List<String> prefix;

    NftCommand(List<String> prefix) {
        this.prefix = List.copyOf(prefix);
    }

    Result run(List<String> args, String stdin) throws IOException {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).start();
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        CompletableFuture<Void> in = CompletableFuture.runAsync(() -> {
            try (OutputStream os = p.getOutputStream()) {
                if (stdin != null) {
                    os.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            } catch (IOException e) {
                // nft exited early; its exit code and stderr say why
            }
        });
        byte[] out = readAll(p.getInputStream());
        try {
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish in " + TIMEOUT_SECONDS + " s");
            }
            in.join();
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err.join(), StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running " + String.join(" ", cmd), e);
        }
    }

    private static byte[] readAll(InputStream s) {
        try (s) {
            return s.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Scripts up to this size (incremental syncs) go through the {@link NftSession}; larger ones through {@code nft -f -}. */
    static final int SESSION_MAX_CHARS = 16 * 1024;
    /** A session is replaced after this many transactions (nft -i keeps a line history). */
    private static final int SESSION_MAX_TRANSACTIONS = 1000;

    private NftSession session;
    private boolean sessionsWork = true;

    /** One transaction: all of {@code script} or nothing. */
    synchronized void apply(String script) throws IOException, NftException {
        if (sessionsWork && script.length() <= SESSION_MAX_CHARS) {
            applyInSession(script);
            return;
        }
        Result r = run(List.of("nft", "-f", "-"), script);
        if (r.code() != 0) {
            throw new NftException(firstLines(r.err().isEmpty() ? r.out() : r.err(), 6));
        }
    }

    private void applyInSession(String script) throws IOException, NftException {
        if (session != null && session.transactions() >= SESSION_MAX_TRANSACTIONS) {
            closeSession();
        }
        String said;
        try {
            if (session == null) {
                session = new NftSession(prefix);
            }
            said = session.run(script, TimeUnit.SECONDS.toMillis(TIMEOUT_SECONDS));
        } catch (IOException e) {
            if (session == null || session.transactions() == 0) {
                sessionsWork = false; // e.g. nft built without its CLI: one nft -f - per transaction from now on
            }
            closeSession();
            throw new IOException("nft session: " + e.getMessage(), e);
        }
        for (String line : said.split("\n")) {
            if (line.startsWith("Error:")) {
                throw new NftException(firstLines(said, 6));
            }
        }
    }

    private void closeSession() {
        if (session != null) {
            session.close();
            session = null;
        }
    }

    /** Ends the {@link NftSession}, if one runs. */
    synchronized void close() {
        closeSession();
    }

    static String firstLines(String s, int n) {
        String[] lines = s.strip().split("\n");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < Math.min(n, lines.length); i++) {
            String l = lines[i];
            b.append(i == 0 ? "" : " | ").append(l.length() > 300 ? l.substring(0, 300) + "..." : l);
        }
        return b.toString();
    }

    /** Reads table {@code ip TABLE} back (elements of our maps, chain and set names); empty if absent. */
    KernelState read(String table) throws IOException, NftException {
        KernelState s = new KernelState();
        Result r = run(List.of("nft", "-j", "list", "table", "ip", table), null);
        if (r.code() != 0) {
            if (r.err().contains("No such file or directory")) {
                return s;
            }
            throw new NftException(firstLines(r.err(), 6));
        }
        parse(r.out(), s);
        return s;
    }

    /** Fills {@code s} from {@code nft -j list table} output. */
    static void parse(String json, KernelState s) throws IOException {
        JsonNode root = JSON.readTree(json).path("nftables");
        int maps = 0;
        for (JsonNode item : root) {
            if (item.has("table")) {
                s.tablePresent = true;
            } else if (item.has("chain")) {
                JsonNode c = item.get("chain");
                String header = c.has("hook")
                        ? "type " + c.path("type").asText() + " hook " + c.path("hook").asText() + " priority "
                        + priorityName(c.path("hook").asText(), c.path("prio").asInt()) + "; policy " + c.path("policy").asText() + ";"
                        : "";
                s.put(NftObject.chain(c.path("name").asText(), header, null), null);
            } else if (item.has("set")) {
                s.put(NftObject.set(item.get("set").path("name").asText(), null), null);
            } else if (item.has("map")) {
                JsonNode m = item.get("map");
                String name = m.path("name").asText();
                if (name.equals(NftRenderer.VIPS) || name.equals(NftRenderer.PUBLISHED) || name.equals(NftRenderer.BACKENDS)
                        || name.equals(NftRenderer.PUBLISHED_BACKENDS)) {
                    maps++;
                }
                for (JsonNode e : m.path("elem")) {
                    if (e.isArray() && e.size() == 2) {
                        s.put(NftObject.element(name, text(e.get(0)), text(e.get(1))), null);
                    }
                }
            }
        }
        s.tablePresent = s.tablePresent && maps == 4;
    }

    private static String priorityName(String hook, int prio) {
        if (prio == -100 && hook.equals("prerouting")) {
            return "dstnat";
        }
        if (prio == 100 && hook.equals("postrouting")) {
            return "srcnat";
        }
        return Integer.toString(prio);
    }

    /** An element's key or value as nft writes it: {@code a . b . c}, {@code goto chain}. */
    static String text(JsonNode n) {
        if (n.has("concat")) {
            StringBuilder b = new StringBuilder();
            for (JsonNode x : n.get("concat")) {
                b.append(b.length() == 0 ? "" : " . ").append(text(x));
            }
            return b.toString();
        }
        if (n.has("goto")) {
            return "goto " + n.get("goto").path("target").asText();
        }
        if (n.has("jump")) {
            return "jump " + n.get("jump").path("target").asText();
        }
        if (n.has("elem")) {
            return text(n.get("elem").path("val"));
        }
        return n.asText();
    }

    /** Deletes table {@code ip TABLE}; false if there was none. */
    boolean deleteTable(String table) throws IOException, NftException {
        Result r = run(List.of("nft", "delete", "table", "ip", table), null);
        if (r.code() == 0) {
            return true;
        }
        if (r.err().contains("No such file or directory")) {
            return false;
        }
        throw new NftException(firstLines(r.err(), 6));
    }
}
