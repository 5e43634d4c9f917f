package io.portolan.agent.admin;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Set;

/**
 * The admin API's bearer token ({@code --admin-token-file}). Requests are compared by their SHA-256
 * digests with {@link MessageDigest#isEqual} (constant time, and equal lengths whatever was sent), so
 * the time an answer takes tells nothing about how much of the token a guess got right.
 */
final class BearerToken {
    /** Paths served without the token: liveness and readiness probes. */
    static final Set<String> OPEN_PATHS = Set.of("/healthz", "/readyz");

    private final byte[] digest;

    private BearerToken(byte[] digest) {
        this.digest = digest;
    }

    static BearerToken of(String token) {
        return new BearerToken(sha256(token));
    }

    /** Whether an {@code Authorization} header value carries the token ({@code Bearer TOKEN}). */
    boolean matches(String authorization) {
        if (authorization == null || authorization.length() < 7 || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        return MessageDigest.isEqual(digest, sha256(authorization.substring(7).strip()));
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this JVM", e);
        }
    }
}
