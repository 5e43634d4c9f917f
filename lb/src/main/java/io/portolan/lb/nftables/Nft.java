package io.portolan.lb.nftables;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.portolan.lb.host.Exec;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
            // nft's errors about the input line start with "Error:"; those found evaluating what it read from the
            // kernel name their place first ("internal:0:0-0: Error: conflicting protocols specified: ...")
            if (line.startsWith("Error:") || line.contains(": Error: ")) {
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
        Map<String, String> chains = new LinkedHashMap<>(); // name -> hook header
        Map<String, List<String>> slotRules = new HashMap<>(); // slot chain -> its rules as text (null: one unknown)
        for (JsonNode item : root) {
            if (item.has("table")) {
                s.tablePresent = true;
            } else if (item.has("chain")) {
                JsonNode c = item.get("chain");
                String header = c.has("hook")
                        ? "type " + c.path("type").asText() + " hook " + c.path("hook").asText() + " priority "
                        + priorityName(c.path("hook").asText(), c.path("prio").asInt()) + "; policy " + c.path("policy").asText() + ";"
                        : "";
                chains.put(c.path("name").asText(), header);
            } else if (item.has("rule")) {
                JsonNode r = item.get("rule");
                String chain = r.path("chain").asText();
                if (isSlotChain(chain)) {
                    if (namesOneProtocol(r.path("expr"))) {
                        s.earlierLayout = true;
                    }
                    String text = slotRuleText(r.path("expr"));
                    List<String> rules = slotRules.computeIfAbsent(chain, k -> new ArrayList<>());
                    if (rules != null) {
                        if (text == null) {
                            slotRules.put(chain, null);
                        } else {
                            rules.add(text);
                        }
                    }
                }
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
        for (var c : chains.entrySet()) {
            // a slot chain's rules as the plane writes them, when nft listed them in a form it knows (else unknown: null)
            String rules = null;
            if (isSlotChain(c.getKey()) && (!slotRules.containsKey(c.getKey()) || slotRules.get(c.getKey()) != null)) {
                rules = String.join("\n", slotRules.getOrDefault(c.getKey(), List.of()));
            }
            s.put(NftObject.chain(c.getKey(), c.getValue(), rules, null));
        }
        s.tableExists = s.tablePresent;
        s.tablePresent = s.tablePresent && maps == 4;
    }

    /**
     * Whether a slot chain's rule reads a header field of one transport protocol ({@code tcp dport}): what
     * nft lists for the layout before UDP was DNATed, whose backend maps were declared {@code : ip daddr .
     * tcp dport} (nft then made the first dnat rule using each map, in slots_1 and pslots_1, match TCP only,
     * and lists that rule's {@code th dport} as {@code tcp dport}). The current layout's slot rules read only
     * {@code ip daddr} and {@code th dport}.
     */
    static boolean namesOneProtocol(JsonNode n) {
        if (n.isObject()) {
            JsonNode payload = n.get("payload");
            if (payload != null && payload.has("protocol")) {
                String p = payload.path("protocol").asText();
                if (!p.equals("ip") && !p.equals("th")) {
                    return true;
                }
            }
        }
        for (JsonNode c : n) {
            if (namesOneProtocol(c)) {
                return true;
            }
        }
        return false;
    }

    static boolean isSlotChain(String name) {
        return name.startsWith("slots_") || name.startsWith("pslots_");
    }

    /**
     * The text {@link NftRender} writes for a slot chain's rule given as nft's JSON ({@code meta mark set meta mark |
     * 0x00004000}, {@code dnat to ip daddr . meta l4proto . th dport . numgen random mod 2 map @backends}), or null for
     * anything else.
     */
    static String slotRuleText(JsonNode expr) {
        if (!expr.isArray() || expr.size() != 1) {
            return null;
        }
        JsonNode e = expr.get(0);
        JsonNode mangle = e.get("mangle");
        if (mangle != null && e.size() == 1 && mangle.size() == 2 && isMeta(mangle.path("key"), "mark")) {
            JsonNode or = mangle.path("value").path("|");
            if (mangle.path("value").size() == 1 && or.isArray() && or.size() == 2 && isMeta(or.get(0), "mark") && or.get(1).canConvertToLong()) {
                return "meta mark set meta mark | " + String.format("0x%08x", or.get(1).asLong());
            }
            return null;
        }
        JsonNode dnat = e.get("dnat");
        if (dnat == null || e.size() != 1 || dnat.size() != 2 || !dnat.path("family").asText().equals("ip")) {
            return null;
        }
        JsonNode map = dnat.path("addr").path("map");
        JsonNode concat = map.path("key").path("concat");
        String data = map.path("data").asText();
        if (dnat.path("addr").size() != 1 || map.size() != 2 || map.path("key").size() != 1 || !concat.isArray() || !data.startsWith("@")) {
            return null;
        }
        StringBuilder b = new StringBuilder("dnat to ");
        for (JsonNode x : concat) {
            String part;
            if (x.has("payload") && x.size() == 1 && x.get("payload").size() == 2) {
                part = x.get("payload").path("protocol").asText() + " " + x.get("payload").path("field").asText();
            } else if (x.has("meta") && x.size() == 1 && x.get("meta").size() == 1) {
                part = "meta " + x.get("meta").path("key").asText();
            } else if (x.has("numgen") && x.size() == 1 && x.get("numgen").size() == 3 && x.get("numgen").path("mode").asText().equals("random")
                    && x.get("numgen").path("offset").asLong(-1) == 0 && x.get("numgen").path("mod").canConvertToInt()) {
                part = "numgen random mod " + x.get("numgen").path("mod").asInt();
            } else {
                return null;
            }
            b.append(b.length() == 8 ? "" : " . ").append(part);
        }
        return b.append(" map ").append(data).toString();
    }

    private static boolean isMeta(JsonNode n, String key) {
        return n.size() == 1 && n.path("meta").size() == 1 && n.path("meta").path("key").asText().equals(key);
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
