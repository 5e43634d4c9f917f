package io.portolan.agent.ipvs;

import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Cli;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The IPVS scenario, run inside the test VM (deploy/vm/run-in-vm.sh) by {@link IpvsVmTest}: the VM's
 * root namespace is the node, running the real agent with {@code --dataplane ipvs}; a client
 * namespace and three backend namespaces (busybox httpd) hang off a bridge. Prints one line per
 * step with its duration and exits 0 when every check held.
 */
public final class IpvsScenario {
    static final String NODE = "10.0.0.1";
    static final Map<String, String> BACKENDS = Map.of("b1", "10.0.0.11", "b2", "10.0.0.12", "b3", "10.0.0.13");
    static final Path TMP = Path.of("/tmp/ipvs-scenario");
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final int ADMIN_PORT = 7399;
    static final String ADMIN = "http://127.0.0.1:" + ADMIN_PORT;
    static final List<Process> processes = new ArrayList<>();
    static long t0 = System.nanoTime();
    static int agents;

    private IpvsScenario() {
    }

    public static void main(String[] args) {
        boolean ok = runReported();
        System.out.flush();
        Runtime.getRuntime().halt(ok ? 0 : 1);
    }

    /** Runs the scenario, prints {@code IPVS SCENARIO PASSED|FAILED}, ends its processes; true if it passed. */
    static boolean runReported() {
        t0 = System.nanoTime();
        try {
            run();
            System.out.println("IPVS SCENARIO PASSED in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            return true;
        } catch (Throwable e) {
            System.out.println("IPVS SCENARIO FAILED: " + e);
            e.printStackTrace(System.out);
            dump();
            return false;
        } finally {
            for (Process p : processes) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
            }
        }
    }

    static void step(String what) {
        System.out.printf("[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, what);
        System.out.flush();
    }

    static void run() throws Exception {
        step("network: bridge br0 " + NODE + "/24, namespaces client and b1-b3, busybox httpd in each backend");
        Files.createDirectories(TMP);
        Map<String, String> all = new HashMap<>(BACKENDS);
        all.put("client", "10.0.0.10");
        StringBuilder root = new StringBuilder("link add br0 type bridge\naddr add " + NODE + "/24 dev br0\nlink set br0 up\n");
        for (var e : all.entrySet()) {
            String ns = e.getKey();
            root.append("netns add ").append(ns).append('\n')
                    .append("link add v-").append(ns).append(" type veth peer name eth0 netns ").append(ns).append('\n')
                    .append("link set v-").append(ns).append(" master br0 up\n");
        }
        ipBatch(List.of("ip", "-batch", "-"), root.toString());
        for (var e : all.entrySet()) {
            ipBatch(List.of("ip", "-n", e.getKey(), "-batch", "-"), "addr add " + e.getValue() + "/24 dev eth0\nlink set eth0 up\n"
                    + "link set lo up\nroute add default via " + NODE + "\n");
        }
        for (String b : BACKENDS.keySet()) {
            Path www = TMP.resolve("www-" + b);
            Files.createDirectories(www.resolve("cgi-bin"));
            Files.writeString(www.resolve("index.html"), b + "\n");
            Path cgi = www.resolve("cgi-bin/stream");
            Files.writeString(cgi, "#!/bin/sh\necho 'Content-Type: text/plain'\necho ''\ni=0\nwhile [ $i -lt 900 ]; do echo \"tick $i " + b
                    + "\"; i=$((i+1)); sleep 1; done\n");
            Files.setPosixFilePermissions(cgi, PosixFilePermissions.fromString("rwxr-xr-x"));
            background("httpd-" + b, "ip", "netns", "exec", b, "busybox", "httpd", "-f", "-p", "8080", "-h", www.toString());
        }
        // things that are not the agent's: --cleanup must leave them
        sh("ipvsadm", "-A", "-f", "77", "-s", "rr");
        sh("iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "--dport", "7777", "-j", "MARK", "--set-mark", "77");
        sh("ip", "addr", "add", "10.55.0.1/32", "dev", "lo");

        Process agent = startAgent();
        step("register b1, b2, b3 as web (rr, port http:8080, published 9090:8080)");
        for (var b : BACKENDS.entrySet()) {
            register("web", b.getKey(), b.getValue(), "rr", true);
        }
        String vip = vip("web");
        step("web VIP " + vip + "; waiting for three real servers in IPVS");
        Await.until("three real servers", 30_000, () -> reals(vip).size() == 3);
        step("ipvsadm -S -n:\n" + sh("ipvsadm", "-S", "-n").strip());

        step("distribution: 30 requests from the client namespace");
        Map<String, Integer> seen = new HashMap<>();
        for (String b : curlMany("client", "http://" + vip + ":8080/", 30)) {
            seen.merge(b, 1, Integer::sum);
        }
        step("  " + seen);
        check(seen.equals(Map.of("b1", 10, "b2", 10, "b3", 10)), "rr over three real servers gives 10 each: " + seen);

        step("from the node itself through the VIP, and the published port 9090 on the node's address");
        Set<String> fromNode = new HashSet<>(curlMany(null, "http://" + vip + ":8080/", 3));
        check(fromNode.equals(BACKENDS.keySet()), "the node reaches every backend through the VIP: " + fromNode);
        Set<String> published = new HashSet<>(curlMany("client", "http://" + NODE + ":9090/", 6));
        check(published.equals(BACKENDS.keySet()), "the published port reaches every backend: " + published);

        step("bad input: service bad with scheduler nosuch, then service api after it");
        register("bad", "bad1", BACKENDS.get("b1"), "nosuch", false);
        Await.until("the refusal logged", 30_000, () -> log(agents).contains("refused service bad"));
        register("api", "api1", BACKENDS.get("b2"), "wrr", false);
        String apiVip = vip("api");
        Await.until("api programmed", 30_000, () -> reals(apiVip).size() == 1);
        check(curl("client", "http://" + apiVip + ":8080/").equals("b2"), "api answers although bad was refused");
        check(curl("client", "http://" + vip + ":8080/").startsWith("b"), "web still answers");
        step("  " + grep(log(agents), "refused service bad"));

        step("graceful removal: a streaming connection, then its backend deregistered");
        Path s1 = TMP.resolve("stream1.txt");
        Process stream1 = background("stream1", List.of("ip", "netns", "exec", "client", "curl", "-sN", "--max-time", "900", "http://" + vip + ":8080/cgi-bin/stream"), s1);
        Await.until("stream 1 flowing", 20_000, () -> lines(s1) >= 2);
        String held = lastLine(s1).split(" ")[2];
        step("  stream 1 is served by " + held + "; DELETE it");
        http("DELETE", ADMIN + "/v1/instances/web/" + held, null);
        String heldAddr = BACKENDS.get(held) + ":8080";
        Await.until(held + " at weight 0", 15_000, () -> Integer.valueOf(0).equals(weight(vip, heldAddr)));
        int before = lines(s1);
        Set<String> afterRemoval = new HashSet<>(curlMany("client", "http://" + vip + ":8080/", 8));
        check(!afterRemoval.contains(held) && afterRemoval.size() == 2, "new connections avoid the draining backend: " + afterRemoval);
        // The stream writes a line a second; the eight requests above may take less than that.
        Await.until("the established connection still flows while its backend drains", 10_000, () -> lines(s1) > before);
        check(Integer.valueOf(0).equals(weight(vip, heldAddr)), held + " is still there at weight 0 while a connection is open");
        step("  " + held + " at weight 0, stream still flowing; waiting for the drain timeout (15 s) to delete it");
        Await.until(held + " deleted", 60_000, () -> weight(vip, heldAddr) == null);
        stream1.destroyForcibly();
        step("  deleted; register it again");
        register("web", held, BACKENDS.get(held), "rr", true);
        Await.until(held + " back", 15_000, () -> reals(vip).size() == 3);
        Set<String> back = new HashSet<>(curlMany("client", "http://" + vip + ":8080/", 6));
        check(back.equals(BACKENDS.keySet()), "all three serve again: " + back);

        step("restart: a streaming connection survives kill -9 of the agent and its restart");
        Path s2 = TMP.resolve("stream2.txt");
        Process stream2 = background("stream2", List.of("ip", "netns", "exec", "client", "curl", "-sN", "--max-time", "900",
                "http://" + vip + ":8080/cgi-bin/stream"), s2);
        Await.until("stream 2 flowing", 20_000, () -> lines(s2) >= 2);
        String tableBefore = sh("ipvsadm", "-S", "-n");
        Set<String> rulesBefore = ourRules();
        agent.destroyForcibly();
        agent.waitFor(10, TimeUnit.SECONDS);
        int atKill = lines(s2);
        Thread.sleep(2500);
        check(lines(s2) > atKill, "stream 2 flows with the agent dead");
        agent = startAgent();
        Await.until("the restarted agent adopted the kernel state", 60_000, () -> log(agents).contains("ipvs: adopted"));
        step("  " + grep(log(agents), "ipvs: adopted"));
        Thread.sleep(3000);
        int afterRestart = lines(s2);
        Thread.sleep(2500);
        check(stream2.isAlive() && lines(s2) > afterRestart, "stream 2 still flows after the restart");
        check(sh("ipvsadm", "-S", "-n").equals(tableBefore), "the IPVS table is unchanged by the restart (marks stable, no flush)");
        check(ourRules().equals(rulesBefore), "the mark rules are unchanged by the restart");
        check(curl("client", "http://" + vip + ":8080/").startsWith("b"), "web answers after the restart");
        step("  stream 2 at " + lines(s2) + " lines, no gap; table and rules identical");

        step("--cleanup removes what the agent made and nothing else");
        agent.destroy();
        agent.waitFor(30, TimeUnit.SECONDS);
        Process cleanup = Cli.builder("agent", "--cleanup", "--dataplane", "ipvs", "--state-dir", TMP.resolve("state").toString())
                .redirectErrorStream(true).redirectOutput(TMP.resolve("cleanup.log").toFile()).start();
        check(cleanup.waitFor(120, TimeUnit.SECONDS) && cleanup.exitValue() == 0, "cleanup exits 0: " + Files.readString(TMP.resolve("cleanup.log")));
        String table = sh("ipvsadm", "-S", "-n").strip();
        check(table.equals("-A -f 77 -s rr"), "only the foreign IPVS service is left: " + table);
        String mangle = sh("iptables-save");
        check(!mangle.contains("PORTOLAN"), "no PORTOLAN chain or jump is left:\n" + mangle);
        check(mangle.contains("--dport 7777"), "the foreign mangle rule is left");
        check(run(List.of("ip", "link", "show", "dev", "portolan-ipvs")).code != 0, "the dummy device is gone");
        check(sh("ip", "-o", "addr", "show", "dev", "lo").contains("10.55.0.1/32"), "the foreign address on lo is left");
    }

    // ---- agent ----

    static Process startAgent() throws Exception {
        agents++;
        step("start agent #" + agents + ": --dataplane ipvs --ipvs-drain-timeout 15s");
        Process p = Cli.builder("agent", "--dataplane", "ipvs", "--state-dir", TMP.resolve("state").toString(),
                        "--admin-listen", "127.0.0.1:" + ADMIN_PORT, "--vip-cidr", "10.99.0.0/24", "--ipvs-drain-timeout", "15s",
                        "--ipvs-min-sync-interval", "50ms", "--dns-listen", "none", "--log-level", "debug")
                .redirectErrorStream(true).redirectOutput(TMP.resolve("agent-" + agents + ".log").toFile()).start();
        processes.add(p);
        Await.until("agent ready", 240_000, () -> {
            try {
                return http("GET", ADMIN + "/readyz", null).statusCode() == 200;
            } catch (Exception e) {
                return false;
            }
        });
        step("  agent #" + agents + " ready");
        return p;
    }

    static String log(int n) {
        try {
            return Files.readString(TMP.resolve("agent-" + n + ".log"));
        } catch (IOException e) {
            return "";
        }
    }

    static void register(String service, String id, String address, String scheduler, boolean publish) throws Exception {
        String body = "{\"service\":\"" + service + "\",\"id\":\"" + id + "\",\"address\":\"" + address
                + "\",\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"tcp\"}],\"weight\":100,\"ttl\":3600,\"scheduler\":\""
                + scheduler + "\"" + (publish ? ",\"published\":[{\"published\":9090,\"target\":8080,\"protocol\":\"tcp\"}]" : "") + "}";
        HttpResponse<String> r = http("POST", ADMIN + "/v1/instances", body);
        check(r.statusCode() / 100 == 2, "register " + service + "/" + id + ": " + r.statusCode() + " " + r.body());
    }

    static String vip(String service) throws Exception {
        Pattern p = Pattern.compile("\"name\":\"" + service + "\",\"mode\":\"vip\",\"vip\":\"([0-9.]+)\"");
        String[] out = new String[1];
        Await.until("VIP of " + service, 10_000, () -> {
            try {
                Matcher m = p.matcher(http("GET", ADMIN + "/v1/services", null).body());
                if (m.find()) {
                    out[0] = m.group(1);
                    return true;
                }
            } catch (Exception ignored) {
                // retry
            }
            return false;
        });
        return out[0];
    }

    static HttpResponse<String> http(String method, String url, String body) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10));
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    // ---- kernel views ----

    /** Real servers (address:port to weight) of the fwmark service whose mangle rule matches {@code vip}:8080. */
    static Map<String, Integer> reals(String vip) {
        Map<String, Integer> out = new HashMap<>();
        try {
            Matcher m = Pattern.compile("-d " + Pattern.quote(vip) + "/32 -p tcp -m tcp --dport 8080 -j MARK --set-xmark 0x([0-9a-f]+)/")
                    .matcher(sh("iptables-save", "-t", "mangle"));
            if (!m.find()) {
                return out;
            }
            long mark = Long.parseLong(m.group(1), 16);
            for (String line : sh("ipvsadm", "-S", "-n").split("\n")) {
                String[] t = line.trim().split("\\s+");
                if (t.length >= 8 && t[0].equals("-a") && t[2].equals(String.valueOf(mark))) {
                    out.put(t[4], Integer.parseInt(t[7]));
                }
            }
        } catch (Exception e) {
            return out;
        }
        return out;
    }

    static Integer weight(String vip, String real) {
        return reals(vip).get(real);
    }

    /** This plane's chains, jumps and rules as a sorted set (a full resync may rewrite them in another order). */
    static Set<String> ourRules() throws Exception {
        Set<String> out = new java.util.TreeSet<>();
        for (String l : sh("iptables-save").split("\n")) {
            if (l.contains("PORTOLAN")) {
                out.add(l.strip());
            }
        }
        return out;
    }

    // ---- processes ----

    record Result(int code, String out) {
    }

    static Result run(List<String> argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", argv) + " did not finish");
        }
        return new Result(p.exitValue(), out);
    }

    static void ipBatch(List<String> argv, String commands) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        try (var in = p.getOutputStream()) {
            in.write(commands.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", argv) + ": " + out + "\n" + commands);
    }

    static String sh(String... argv) throws IOException, InterruptedException {
        Result r = run(List.of(argv));
        if (r.code != 0) {
            throw new IOException(String.join(" ", argv) + " failed (exit " + r.code + "): " + r.out);
        }
        return r.out;
    }

    /** curl from a namespace (null: the node); returns the body, trimmed. */
    static String curl(String ns, String url) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>();
        if (ns != null) {
            argv.addAll(List.of("ip", "netns", "exec", ns));
        }
        argv.addAll(List.of("curl", "-sS", "--max-time", "10", url));
        Result r = run(argv);
        check(r.code == 0, "curl " + url + (ns == null ? " from the node" : " from " + ns) + ": exit " + r.code + " " + r.out);
        return r.out.strip();
    }

    /** One curl process, {@code n} requests (busybox httpd closes each connection: n connections); the bodies. */
    static List<String> curlMany(String ns, String url, int n) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>();
        if (ns != null) {
            argv.addAll(List.of("ip", "netns", "exec", ns));
        }
        argv.addAll(List.of("curl", "-sS", "--max-time", "60"));
        for (int i = 0; i < n; i++) {
            argv.add(url);
        }
        Result r = run(argv);
        check(r.code == 0, "curl " + url + " x" + n + (ns == null ? " from the node" : " from " + ns) + ": exit " + r.code + " " + r.out);
        List<String> bodies = r.out.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
        check(bodies.size() == n, "curl " + url + " x" + n + ": " + bodies);
        return bodies;
    }

    static Process background(String name, String... argv) throws IOException {
        return background(name, List.of(argv), TMP.resolve(name + ".log"));
    }

    static Process background(String name, List<String> argv, Path out) throws IOException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        processes.add(p);
        return p;
    }

    static int lines(Path p) {
        try {
            return (int) Files.readAllLines(p).stream().filter(l -> l.startsWith("tick")).count();
        } catch (IOException e) {
            return 0;
        }
    }

    static String lastLine(Path p) throws IOException {
        List<String> l = Files.readAllLines(p).stream().filter(x -> x.startsWith("tick")).toList();
        return l.get(l.size() - 1);
    }

    static String grep(String text, String what) {
        for (String l : text.split("\n")) {
            if (l.contains(what)) {
                return l.strip();
            }
        }
        return "";
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static void dump() {
        try {
            for (int i = 1; i <= agents; i++) {
                System.out.println("---- agent #" + i + " log (last 80 lines)");
                List<String> l = List.of(log(i).split("\n"));
                l.subList(Math.max(0, l.size() - 80), l.size()).forEach(System.out::println);
            }
            System.out.println("---- ipvsadm -L -n\n" + run(List.of("ipvsadm", "-L", "-n")).out);
            System.out.println("---- iptables-save\n" + run(List.of("iptables-save")).out);
            System.out.println("---- ip addr\n" + run(List.of("ip", "-o", "addr")).out);
        } catch (Exception e) {
            System.out.println("dump failed: " + e);
        }
    }

    static File file(String name) {
        return TMP.resolve(name).toFile();
    }
}
