package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import io.netty.handler.ssl.SslContext;

import java.net.URI;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * How to reach etcd: its endpoints and, when it asks for them, TLS and a user. An {@code https://}
 * endpoint always gets a TLS context (the CA from {@code --etcd-cacert}, else the JVM's trust store),
 * never plain text: jetcd, given no context, would speak plain text to an https URL.
 *
 * @param tls      the client's TLS context (trust, and the client certificate when given), or null for http
 * @param tlsFrom  what the context was made from, for messages ({@code --etcd-cacert F, --etcd-cert F}); null without TLS
 * @param user     etcd's user ({@code --etcd-user}), or null without etcd authentication
 * @param password the user's password (read from {@code --etcd-password-file}), or null
 * @param listedFirst talk to the first endpoint listed first ({@code --etcd-start first}: the member on
 *                 this host, say), else to one at random ({@code random}: a fleet's agents spread over the
 *                 members instead of all crowding, and all leaving, the first)
 */
public record EtcdAccess(List<URI> endpoints, SslContext tls, String tlsFrom, String user, byte[] password, boolean listedFirst) {

    public EtcdAccess {
        endpoints = List.copyOf(endpoints);
        boolean https = endpoints.stream().anyMatch(u -> "https".equals(u.getScheme()));
        if (https && tls == null) {
            throw new IllegalArgumentException("https endpoints need a TLS context: " + endpoints);
        }
        if ((user == null) != (password == null)) {
            throw new IllegalArgumentException("a user goes with a password");
        }
    }

    /** Plain http endpoints, no user (tests, and etcd without security). */
    public static EtcdAccess plain(List<URI> endpoints) {
        return new EtcdAccess(endpoints, null, null, null, null, false);
    }

    /** The same access, starting at the first endpoint listed. */
    public EtcdAccess listedFirst(boolean first) {
        return new EtcdAccess(endpoints, tls, tlsFrom, user, password, first);
    }

    /** The index of the endpoint to talk to first. */
    int firstMember() {
        return listedFirst || endpoints.size() == 1 ? 0 : java.util.concurrent.ThreadLocalRandom.current().nextInt(endpoints.size());
    }

    public boolean secured() {
        return tls != null || user != null;
    }

    /** The same settings for one of the endpoints (the client of one member: {@link Members}). */
    EtcdAccess only(URI endpoint) {
        return new EtcdAccess(List.of(endpoint), tls, tlsFrom, user, password, true);
    }

    /**
     * The jetcd client for these settings (no call made yet): no waiting for a ready connection (a
     * call to a dead etcd fails), a connect timeout of {@code timeout}, gRPC keepalive at its minimum
     * (10 s, 5 s to answer), keepaliveWithoutCalls left as jetcd has it (on: turning it off broke
     * reconnecting).
     */
    Client build(Duration timeout) {
        return builder(timeout).build();
    }

    /**
     * The builder {@link #build} uses, for a caller that adds to it before building (the fleet
     * simulation gives many in-process agents one executor: {@link EtcdRegistry.Clients}).
     */
    public ClientBuilder builder(Duration timeout) {
        ClientBuilder b = Client.builder()
                .endpoints(endpoints)
                .waitForReady(false)
                .connectTimeout(timeout)
                .keepaliveTime(Duration.ofSeconds(10))
                .keepaliveTimeout(Duration.ofSeconds(5))
                .maxInboundMessageSize(64 * 1024 * 1024);
        if (tls != null) {
            b.sslContext(tls);
        }
        if (user != null) {
            b.user(ByteSequence.from(user, java.nio.charset.StandardCharsets.UTF_8)).password(ByteSequence.from(password));
        }
        return b;
    }

    /** For logs: the endpoints, and how the agent proves who it is (never the password). */
    public String describe() {
        return endpoints + (tls == null ? "" : " over TLS (" + tlsFrom + ")") + (user == null ? "" : " as etcd user '" + user + "'")
                + (endpoints.size() > 1 && listedFirst ? ", the first listed first" : "");
    }

    @Override
    public String toString() {
        return "EtcdAccess" + describe();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EtcdAccess a && a.endpoints.equals(endpoints) && a.tls == tls && java.util.Objects.equals(a.user, user)
                && Arrays.equals(a.password, password) && a.listedFirst == listedFirst;
    }

    @Override
    public int hashCode() {
        return endpoints.hashCode();
    }
}
