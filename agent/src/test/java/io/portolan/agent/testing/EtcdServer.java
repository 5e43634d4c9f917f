package io.portolan.agent.testing;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real etcd (Debian's etcd-server) on free loopback ports with a temporary data directory.
 * {@link #stop()} and {@link #start()} keep the data and ports, for outage tests.
 */
public final class EtcdServer implements AutoCloseable {
    private final Path dataDir;
    private final int clientPort;
    private final int peerPort;
    private final Path log;
    /** With TLS: the certificates ({@link TestPki}); etcd asks every client for a certificate its CA signed. */
    private final TestPki pki;
    private final int metricsPort;
    private final String serverCert;
    /** Flags added to etcd's command line (e.g. {@code --experimental-watch-progress-notify-interval=1s}, {@code --quota-backend-bytes N}). */
    private final List<String> extraFlags;
    /** etcdctl's {@code --user} once authentication is on, or null. */
    private volatile String etcdctlUser;
    private Process process;

    public EtcdServer() throws IOException {
        this(null, null);
    }

    /** A plain etcd started with {@code extraFlags} too (e.g. {@code --quota-backend-bytes 4194304}). */
    public EtcdServer(List<String> extraFlags) throws IOException {
        this(null, "server", extraFlags);
    }

    /**
     * With {@code pki}: https on the client port with the PKI's server certificate, and
     * {@code --client-cert-auth} with its CA; health is read from a plain metrics port.
     */
    public EtcdServer(TestPki pki) throws IOException {
        this(pki, "server");
    }

    /** {@link #EtcdServer(TestPki)} serving the PKI's certificate {@code serverCert} (e.g. one that names another address). */
    public EtcdServer(TestPki pki, String serverCert) throws IOException {
        this(pki, serverCert, List.of());
    }

    private EtcdServer(TestPki pki, String serverCert, List<String> extraFlags) throws IOException {
        this.extraFlags = List.copyOf(extraFlags);
        this.pki = pki;
        this.serverCert = serverCert;
        this.dataDir = Files.createTempDirectory("etcd-test");
        this.clientPort = freePort();
        this.peerPort = freePort();
        this.metricsPort = pki == null ? 0 : freePort();
        this.log = dataDir.resolveSibling(dataDir.getFileName() + ".log");
        start();
    }

    /** etcdctl runs as this user from now on ({@code NAME:PASSWORD}), e.g. root once authentication is enabled. */
    public void etcdctlUser(String userColonPassword) {
        this.etcdctlUser = userColonPassword;
    }

    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public URI endpoint() {
        return URI.create((pki == null ? "http" : "https") + "://127.0.0.1:" + clientPort);
    }

    public int clientPort() {
        return clientPort;
    }

    public synchronized void start() throws IOException {
        String client = endpoint().toString();
        String peer = "http://127.0.0.1:" + peerPort;
        List<String> cmd = new java.util.ArrayList<>(List.of("etcd", "--name", "test", "--data-dir", dataDir.resolve("data").toString(),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "test=" + peer, "--initial-cluster-state", "new",
                "--log-level", "warn", "--logger", "zap"));
        if (pki != null) {
            cmd.addAll(List.of("--cert-file", pki.cert(serverCert).toString(), "--key-file", pki.key(serverCert).toString(),
                    "--trusted-ca-file", pki.caCert().toString(), "--client-cert-auth",
                    "--listen-metrics-urls", "http://127.0.0.1:" + metricsPort));
        }
        cmd.addAll(extraFlags);
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().put("ETCD_UNSUPPORTED_ARCH", "");
        process = pb.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("etcd exited with " + process.exitValue() + "; log: " + Files.readString(log));
            }
            if (healthy()) {
                return;
            }
            sleep(50);
        }
        throw new IOException("etcd did not become healthy on " + client + "; log: " + Files.readString(log));
    }

    private boolean healthy() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", pki == null ? clientPort : metricsPort), 200);
            s.getOutputStream().write(("GET /health HTTP/1.0\r\nHost: x\r\n\r\n").getBytes());
            s.setSoTimeout(1000);
            String r = new String(s.getInputStream().readAllBytes());
            return r.contains("\"health\":\"true\"") || r.contains("\"health\": \"true\"");
        } catch (IOException e) {
            return false;
        }
    }

    /** etcd's Prometheus metrics ({@code GET /metrics} on the client URL, or the metrics port with TLS). */
    public String metrics() throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", pki == null ? clientPort : metricsPort), 2000);
            s.getOutputStream().write(("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").getBytes());
            s.setSoTimeout(5000);
            return new String(s.getInputStream().readAllBytes());
        }
    }

    /** The value of a counter or gauge without labels in {@link #metrics()}, e.g. {@code etcd_debugging_lease_renewed_total}. */
    public double metric(String name) throws IOException {
        for (String line : metrics().split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1).trim());
            }
        }
        throw new IOException("no metric " + name + " in etcd's /metrics");
    }

    /** Stops etcd (SIGKILL: an abrupt outage); the data stays for {@link #start()}. */
    public synchronized void stop() throws InterruptedException {
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            process = null;
        }
    }

    /** etcdctl with this server as endpoint (argv only). */
    public String etcdctl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new java.util.ArrayList<>(List.of("etcdctl", "--endpoints", endpoint().toString()));
        if (pki != null) {
            cmd.addAll(List.of("--cacert", pki.caCert().toString(), "--cert", pki.clientCert().toString(), "--key", pki.clientKey().toString()));
        }
        if (etcdctlUser != null) {
            cmd.add("--user=" + etcdctlUser);
        }
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("ETCDCTL_API", "3");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(20, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("etcdctl " + String.join(" ", args) + " failed: " + out);
        }
        return out;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws Exception {
        stop();
        deleteTree(dataDir.toFile());
        Files.deleteIfExists(log);
    }

    static void deleteTree(File f) {
        File[] children = f.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteTree(c);
            }
        }
        f.delete();
    }
}
