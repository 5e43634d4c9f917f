package io.portolan.lb.nftables;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.portolan.lb.host.Exec;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * The nft tool, over the host's {@link Exec}: one transaction at a time (small ones through a
 * long-lived {@link NftSession}, large ones as {@code nft -f -}), reading portolan's table back,
 * deleting it. Argv only, the script on stdin.
 */
final class Nft {
    /** The kernel (or nft) refused; the message is nft's own. */
    static final class NftException extends Exception {
        NftException(String message) {
            super(message);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofMinutes(5);

    private final Exec exec;

    Nft(Exec exec) {
        this.exec = exec;
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
        Exec.Result r = exec.run(List.of("nft", "-f", "-"), script, TIMEOUT);
        if (r.code() != 0) {
            throw new NftException(Exec.firstLines(r.err().isEmpty() ? r.out() : r.err(), 6));
        }
    }

    private void applyInSession(String script) throws IOException, NftException {
        if (session != null && session.transactions() >= SESSION_MAX_TRANSACTIONS) {
            closeSession();
        }
        String said;
        try {
            if (session == null) {
                session = new NftSession(exec);
            }
            said = session.run(script, TIMEOUT.toMillis());
        } catch (IOException e) {
            if (session == null || session.transactions() == 0) {
                sessionsWork = false; // e.g. nft built without its CLI: one nft -f - per transaction from now on
            }
            closeSession();
            throw new IOException("nft session: " + e.getMessage(), e);
        }
        for (String line : said.split("\n")) {
            if (line.startsWith("Error:")) {
                throw new NftException(Exec.firstLines(said, 6));
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

    /** Reads table {@code ip TABLE} back (elements of our maps, chain and set names); empty if absent. */
    KernelTable read(String table) throws IOException, NftException {
        KernelTable s = new KernelTable();
        Exec.Result r = exec.run(List.of("nft", "-j", "list", "table", "ip", table), null, TIMEOUT);
        if (r.code() != 0) {
            if (r.err().contains("No such file or directory")) {
                return s;
            }
            throw new NftException(Exec.firstLines(r.err(), 6));
        }
        parse(r.out(), s);
        return s;
    }

    /** Fills {@code s} from {@code nft -j list table} output. */
    static void parse(String json, KernelTable s) throws IOException {
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
                s.put(NftObject.chain(c.path("name").asText(), header, null, null));
            } else if (item.has("set")) {
                s.put(NftObject.set(item.get("set").path("name").asText(), null, null));
            } else if (item.has("map")) {
                JsonNode m = item.get("map");
                String name = m.path("name").asText();
                if (name.equals(NftRender.VIPS) || name.equals(NftRender.PUBLISHED) || name.equals(NftRender.BACKENDS)
                        || name.equals(NftRender.PUBLISHED_BACKENDS)) {
                    maps++;
                }
                for (JsonNode e : m.path("elem")) {
                    if (e.isArray() && e.size() == 2) {
                        s.put(NftObject.element(name, text(e.get(0)), text(e.get(1))));
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
        Exec.Result r = exec.run(List.of("nft", "delete", "table", "ip", table), null, TIMEOUT);
        if (r.code() == 0) {
            return true;
        }
        if (r.err().contains("No such file or directory")) {
            return false;
        }
        throw new NftException(Exec.firstLines(r.err(), 6));
    }
}
