package io.portolan.agent.fleetsim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A 3-member etcd cluster (Debian's etcd-server) on loopback: each member on an address of its own
 * in 127.0.0.0/8 (127.88.N.1-3, N from the pid), free ports, its own data directory under
 * {@code dir}. Members can be stopped (SIGTERM, data kept) and started again; the leader moved with
 * {@code etcdctl move-leader}; each member's Prometheus metrics read from its client URL.
 */
final class SimCluster implements AutoCloseable {
    record Member(String name, String ip, int clientPort, int peerPort, Path dataDir, Path log) {
        URI client() {
            return URI.create("http://" + ip + ":" + clientPort);
        }

        String peer() {
            return "http://" + ip + ":" + peerPort;
        }
    }

    private final List<Member> members = new ArrayList<>();
    private final Process[] processes;
    private final List<String> extraFlags;
    private final String initialCluster;
    private final String token;

    SimCluster(Path dir, int size, List<String> extraFlags) throws IOException {
        long pid = ProcessHandle.current().pid();
        String net = "127.88." + (pid % 250 + 1) + ".";
        for (int i = 1; i <= size; i++) {
            String ip = net + i;
            int cp = freePort(ip);
            int pp = freePort(ip);
            while (pp == cp) {
                pp = freePort(ip);
            }
            Path data = dir.resolve("m" + i);
            Files.createDirectories(data);
            members.add(new Member("m" + i, ip, cp, pp, data.resolve("data"), dir.resolve("m" + i + ".log")));
        }
        this.processes = new Process[size];
        this.extraFlags = List.copyOf(extraFlags);
        this.initialCluster = String.join(",", members.stream().map(m -> m.name() + "=" + m.peer()).toList());
        this.token = "fleetsim-" + pid;
        for (int i = 0; i < size; i++) {
            launch(i);
        }
        for (int i = 0; i < size; i++) {
            awaitHealthy(i, 60);
        }
    }

    static int freePort(String ip) throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(ip), 0), 1);
            return s.getLocalPort();
        }
    }

    List<Member> members() {
        return members;
    }

    List<URI> endpoints() {
        return members.stream().map(Member::client).toList();
    }

    long pid(int i) {
        Process p = processes[i];
        return p == null ? -1 : p.pid();
    }

    private void launch(int i) throws IOException {
        Member m = members.get(i);
        List<String> cmd = new ArrayList<>(List.of("etcd", "--name", m.name(), "--data-dir", m.dataDir().toString(),
                "--listen-client-urls", m.client().toString(), "--advertise-client-urls", m.client().toString(),
                "--listen-peer-urls", m.peer(), "--initial-advertise-peer-urls", m.peer(),
                "--initial-cluster", initialCluster, "--initial-cluster-state", "new", "--initial-cluster-token", token,
                "--log-level", "warn", "--logger", "zap"));
        cmd.addAll(extraFlags);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(m.log().toFile()));
        processes[i] = pb.start();
    }

    private void awaitHealthy(int i, int seconds) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            Process p = processes[i];
            if (!p.isAlive()) {
                throw new IOException("etcd " + members.get(i).name() + " exited with " + p.exitValue() + "; log: "
                        + Files.readString(members.get(i).log()));
            }
            try {
                if (get(members.get(i).client() + "/health").contains("true")) {
                    return;
                }
            } catch (IOException notYet) {
                // starting
            }
            sleep(100);
        }
        throw new IOException("etcd " + members.get(i).name() + " not healthy within " + seconds + " s; log: "
                + Files.readString(members.get(i).log()));
    }

    /** Stops member {@code i} with SIGTERM (a clean stop), keeping its data. */
    void stop(int i) throws InterruptedException {
        Process p = processes[i];
        if (p != null) {
            p.destroy();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            processes[i] = null;
        }
    }

    void start(int i) throws IOException {
        launch(i);
        awaitHealthy(i, 60);
    }

    /** The index of the member that leads now (from {@code etcdctl endpoint status}). */
    int leader() throws IOException, InterruptedException {
        Map<Long, Integer> byId = new HashMap<>();
        long leader = 0;
        JsonNode status = new ObjectMapper().readTree(etcdctl("endpoint", "status", "-w", "json"));
        for (JsonNode s : status) {
            String ep = s.get("Endpoint").asText();
            long id = s.get("Status").get("header").get("member_id").asLong();
            leader = s.get("Status").get("leader").asLong();
            for (int i = 0; i < members.size(); i++) {
                if (members.get(i).client().toString().equals(ep)) {
                    byId.put(id, i);
                }
            }
        }
        Integer i = byId.get(leader);
        if (i == null) {
            throw new IOException("no member leads: " + status);
        }
        return i;
    }

    /** Moves the leadership to member {@code to} ({@code etcdctl move-leader}, sent to the current leader). */
    void moveLeader(int to) throws IOException, InterruptedException {
        long target = 0;
        for (JsonNode s : new ObjectMapper().readTree(etcdctl("endpoint", "status", "-w", "json"))) {
            if (s.get("Endpoint").asText().equals(members.get(to).client().toString())) {
                target = s.get("Status").get("header").get("member_id").asLong();
            }
        }
        int from = leader();
        run(List.of("etcdctl", "--endpoints", members.get(from).client().toString(), "move-leader", Long.toHexString(target)));
    }

    /** etcdctl over every member that runs (argv only). */
    String etcdctl(String... args) throws IOException, InterruptedException {
        List<String> eps = new ArrayList<>();
        for (int i = 0; i < members.size(); i++) {
            if (processes[i] != null) {
                eps.add(members.get(i).client().toString());
            }
        }
        List<String> cmd = new ArrayList<>(List.of("etcdctl", "--endpoints", String.join(",", eps)));
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    static String run(List<String> cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("ETCDCTL_API", "3");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
        return out;
    }

    /** Member {@code i}'s metrics: each sample line's series (name and labels) to its value; empty when it is down. */
    Map<String, Double> metrics(int i) {
        Map<String, Double> m = new HashMap<>();
        if (processes[i] == null) {
            return m;
        }
        String text;
        try {
            text = get(members.get(i).client() + "/metrics");
        } catch (IOException e) {
            return m;
        }
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int sp = line.lastIndexOf(' ');
            try {
                m.put(line.substring(0, sp), Double.parseDouble(line.substring(sp + 1)));
            } catch (NumberFormatException ignored) {
                // not a sample
            }
        }
        return m;
    }

    /** Established TCP connections to member {@code i}'s client port (read with {@code ss} from the socket table). */
    int clientConnections(int i) throws IOException, InterruptedException {
        Member mb = members.get(i);
        String out = run(List.of("ss", "-Htn", "state", "established", "src", mb.ip() + ":" + mb.clientPort()));
        return (int) out.lines().filter(l -> !l.isBlank()).count();
    }

    /** CPU seconds (user + system) member {@code i} has used so far, from /proc; 0 when it is down. */
    double cpuSeconds(int i) {
        long pid = pid(i);
        if (pid < 0) {
            return 0;
        }
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0; // utime, stime in clock ticks (USER_HZ 100)
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Resident memory of member {@code i} in MiB, from /proc. */
    double rssMiB(int i) {
        long pid = pid(i);
        try {
            for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (l.startsWith("VmRSS:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return 0;
    }

    static String get(String url) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
        c.setConnectTimeout(2_000);
        c.setReadTimeout(5_000);
        try (InputStream in = c.getInputStream()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            c.disconnect();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (int i = 0; i < processes.length; i++) {
            Process p = processes[i];
            if (p != null) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                processes[i] = null;
            }
        }
    }
}
