package io.portolan.agent.config;

import io.grpc.netty.GrpcSslContexts;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.portolan.agent.registry.etcd.EtcdAccess;
import io.portolan.proto.Flag;
import io.portolan.proto.ValidationException;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The flags that say how to reach etcd securely, for the agent and for {@code register --etcd-endpoints}:
 * TLS ({@code --etcd-cacert}, {@code --etcd-cert}, {@code --etcd-key}; https endpoints) and etcd's own
 * authentication ({@code --etcd-user}, the password read from {@code --etcd-password-file}, never from
 * a flag or the environment). Every file is read and parsed here, before anything starts.
 */
public final class EtcdFlags {
    /** Their rows, in the agent's table and in the tables of the commands that reach etcd directly. */
    public static final List<Flag> TABLE = List.of(
            Flag.of("etcd-cacert", "FILE", "", "CA certificate(s) etcd's server certificate must chain to (PEM; https endpoints)"),
            Flag.of("etcd-cert", "FILE", "", "the client certificate for etcd (PEM; with --etcd-key)"),
            Flag.of("etcd-key", "FILE", "", "the client certificate's private key (PEM, PKCS#8; not world-readable)"),
            Flag.of("etcd-user", "NAME", "", "etcd user to authenticate as (with --etcd-password-file)"),
            Flag.of("etcd-password-file", "FILE", "", "the etcd user's password, first line of FILE (not world-readable)"),
            Flag.of("etcd-start", "random|first", "random", "the etcd member talked to first (every call and watch go through one member"
                    + " at a time, the next listed when it fails): one at random, spreading a fleet over the members, or the first"
                    + " listed (the member on this host)"));

    public static final Set<String> FLAGS = Flag.valueNames(TABLE);

    private EtcdFlags() {
    }

    /** The access the flags describe for {@code endpoints} (already parsed from {@code --etcd-endpoints}). */
    public static EtcdAccess access(Flags f, List<URI> endpoints) {
        boolean https = endpoints.stream().anyMatch(u -> "https".equals(u.getScheme()));
        boolean http = endpoints.stream().anyMatch(u -> "http".equals(u.getScheme()));
        String eps = String.join(",", endpoints.stream().map(URI::toString).toList());
        if (endpoints.isEmpty()) {
            for (String name : FLAGS) {
                if (f.has(name)) {
                    throw new ValidationException("--" + name, f.get(name, null), "goes with --etcd-endpoints");
                }
            }
            return null;
        }
        if (https && http) {
            throw new ValidationException("--etcd-endpoints", eps, "mixes http:// and https://; TLS is all or nothing");
        }
        if (http) {
            for (String name : List.of("etcd-cacert", "etcd-cert", "etcd-key")) {
                if (f.has(name)) {
                    throw new ValidationException("--" + name, f.get(name, null), "TLS needs https:// endpoints (--etcd-endpoints " + eps + ")");
                }
            }
        }
        if (f.has("etcd-cert") != f.has("etcd-key")) {
            String given = f.has("etcd-cert") ? "etcd-cert" : "etcd-key";
            throw new ValidationException("--" + given, f.get(given, null), "--etcd-cert and --etcd-key go together (the client certificate and its key)");
        }
        if (f.has("etcd-user") != f.has("etcd-password-file")) {
            String given = f.has("etcd-user") ? "etcd-user" : "etcd-password-file";
            throw new ValidationException("--" + given, f.get(given, null), "--etcd-user and --etcd-password-file go together");
        }
        SslContext tls = null;
        String tlsFrom = null;
        if (https) {
            SslContextBuilder b = GrpcSslContexts.forClient();
            List<String> from = new ArrayList<>();
            if (f.has("etcd-cacert")) {
                String ca = f.get("etcd-cacert", null);
                certificates("--etcd-cacert", ca, SecretFiles.read("--etcd-cacert", ca));
                try {
                    b.trustManager(new java.io.File(ca));
                } catch (IllegalArgumentException e) {
                    throw new ValidationException("--etcd-cacert", ca, "not PEM certificates (" + e.getMessage() + ")");
                }
                from.add("--etcd-cacert " + ca);
            } else {
                from.add("the JVM's trusted CAs (no --etcd-cacert)");
            }
            if (f.has("etcd-cert")) {
                String cert = f.get("etcd-cert", null);
                String key = f.get("etcd-key", null);
                certificates("--etcd-cert", cert, SecretFiles.read("--etcd-cert", cert));
                SecretFiles.readPrivate("--etcd-key", key);
                try {
                    b.keyManager(new java.io.File(cert), new java.io.File(key));
                } catch (IllegalArgumentException e) {
                    throw new ValidationException("--etcd-key", key, "not a private key in unencrypted PKCS#8 PEM ('BEGIN PRIVATE KEY'; "
                            + "convert with openssl pkcs8 -topk8 -nocrypt): " + e.getMessage());
                }
                from.add("--etcd-cert " + cert);
            } else {
                from.add("no client certificate");
            }
            try {
                tls = b.build();
            } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
                String flag = f.has("etcd-cert") ? "--etcd-key" : "--etcd-cacert";
                throw new ValidationException(flag, f.get(flag.substring(2), null), "cannot make a TLS context from it: " + e.getMessage());
            }
            tlsFrom = String.join(", ", from);
        }
        String user = null;
        byte[] password = null;
        if (f.has("etcd-user")) {
            user = f.get("etcd-user", null);
            if (user.isBlank() || user.length() > 256 || user.chars().anyMatch(c -> c < 0x21 || c == 0x7f)) {
                throw new ValidationException("--etcd-user", user, "an etcd user name (printable, no spaces)");
            }
            password = SecretFiles.secretLine("--etcd-password-file", f.get("etcd-password-file", null)).getBytes(StandardCharsets.UTF_8);
        }
        String start = f.get("etcd-start", "random");
        if (!start.equals("random") && !start.equals("first")) {
            throw new ValidationException("--etcd-start", start, "random or first");
        }
        return new EtcdAccess(endpoints, tls, tlsFrom, user, password, start.equals("first"));
    }

    /** The file holds at least one PEM (or DER) X.509 certificate. */
    private static void certificates(String flag, String path, byte[] content) {
        try {
            if (CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(content)).isEmpty()) {
                throw new ValidationException(flag, path, "holds no certificate (expected PEM, '-----BEGIN CERTIFICATE-----')");
            }
        } catch (CertificateException e) {
            throw new ValidationException(flag, path, "not a certificate in PEM (" + e.getMessage() + ")");
        }
    }
}
