package io.portolan.agent.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Certificates made for one test with openssl (argv only), in a temporary directory: a CA, a server
 * certificate for 127.0.0.1 (an IP SAN), one for 127.0.0.2 only ({@code wrongname}) and a client certificate, all signed by it, and a second,
 * unrelated CA with its own client certificate. EC P-256 keys, written as unencrypted PKCS#8 PEM
 * (openssl 3's default) and mode 600.
 */
public final class TestPki implements AutoCloseable {
    private final Path dir;

    public TestPki() throws IOException, InterruptedException {
        dir = Files.createTempDirectory("portolan-pki");
        ca("ca");
        ca("other-ca");
        Files.writeString(dir.resolve("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                + "keyUsage=digitalSignature,keyEncipherment\n");
        Files.writeString(dir.resolve("client.ext"), "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n");
        leaf("server", "ca", "etcd-test-server", "server.ext");
        Files.writeString(dir.resolve("wrongname.ext"), "subjectAltName=IP:127.0.0.2\nextendedKeyUsage=serverAuth\n"
                + "keyUsage=digitalSignature,keyEncipherment\n");
        leaf("wrongname", "ca", "etcd-test-server", "wrongname.ext"); // the right CA, another address
        leaf("client", "ca", "portolan-test-client", "client.ext");
        leaf("other-client", "other-ca", "portolan-test-client", "client.ext");
    }

    private void ca(String name) throws IOException, InterruptedException {
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=portolan test " + name, "-keyout", key(name).toString(), "-out", cert(name).toString());
        Files.setPosixFilePermissions(key(name), PosixFilePermissions.fromString("rw-------"));
    }

    private void leaf(String name, String ca, String cn, String ext) throws IOException, InterruptedException {
        Path csr = dir.resolve(name + ".csr");
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + cn,
                "-keyout", key(name).toString(), "-out", csr.toString());
        Files.setPosixFilePermissions(key(name), PosixFilePermissions.fromString("rw-------"));
        openssl("x509", "-req", "-in", csr.toString(), "-CA", cert(ca).toString(), "-CAkey", key(ca).toString(), "-CAcreateserial",
                "-days", "2", "-extfile", dir.resolve(ext).toString(), "-out", cert(name).toString());
    }

    private void openssl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
        }
    }

    public Path dir() {
        return dir;
    }

    public Path cert(String name) {
        return dir.resolve(name + ".crt");
    }

    public Path key(String name) {
        return dir.resolve(name + ".key");
    }

    public Path caCert() {
        return cert("ca");
    }

    public Path serverCert() {
        return cert("server");
    }

    public Path serverKey() {
        return key("server");
    }

    public Path clientCert() {
        return cert("client");
    }

    public Path clientKey() {
        return key("client");
    }

    /** A file in the PKI's directory with {@code content} and {@code mode} (e.g. rw-------). */
    public Path file(String name, String content, String mode) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, content);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
        return p;
    }

    @Override
    public void close() {
        EtcdServer.deleteTree(dir.toFile());
    }
}
