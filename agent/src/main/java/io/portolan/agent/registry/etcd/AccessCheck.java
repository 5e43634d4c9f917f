package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What etcd lets this client do, asked once at start: read its prefix, write under it (a transaction
 * whose put etcd checks but never runs: its condition cannot hold), and read each imported prefix.
 * A refusal (TLS, user, permission) becomes one {@link EtcdRefusedException} naming what was refused;
 * an etcd that cannot be reached is not a refusal.
 */
final class AccessCheck {
    private AccessCheck() {
    }

    enum Outcome { ALLOWED, UNREACHABLE }

    static Outcome run(KV kv, EtcdAccess access, String prefix, List<String> readPrefixes, long timeoutMillis) {
        try {
            read(kv, access, prefix, "readwrite", timeoutMillis);
            ByteSequence probe = EtcdRegistry.bytes(prefix + ".access-check");
            // createRevision < 0 never holds: etcd checks the put's permission, and runs nothing
            await(kv.txn().If(new Cmp(probe, Cmp.Op.LESS, CmpTarget.createRevision(0)))
                    .Then(Op.put(probe, ByteSequence.EMPTY, PutOption.DEFAULT)).commit(), access, "write under " + prefix, "readwrite on " + prefix, timeoutMillis);
            for (String p : readPrefixes) {
                read(kv, access, p, "read", timeoutMillis);
            }
            return Outcome.ALLOWED;
        } catch (Unreachable e) {
            return Outcome.UNREACHABLE;
        }
    }

    private static void read(KV kv, EtcdAccess access, String prefix, String need, long timeoutMillis) {
        await(kv.get(EtcdRegistry.bytes(prefix), GetOption.builder().withRange(ByteSequence.from(EtcdRegistry.prefixEnd(prefix)))
                .withLimit(1).withKeysOnly(true).build()), access, "read " + prefix, need + " on " + prefix, timeoutMillis);
    }

    /** etcd could not be reached (refused connection, timeout): the caller decides what that means. */
    static final class Unreachable extends RuntimeException {
        Unreachable(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** @param need the permission {@code what} takes, for the message ({@code readwrite on /portolan/}) */
    private static <T> T await(CompletableFuture<T> f, EtcdAccess access, String what, String need, long timeoutMillis) {
        try {
            return f.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new Unreachable("etcd at " + access.endpoints() + " did not answer '" + what + "' within " + timeoutMillis + " ms", e);
        } catch (ExecutionException e) {
            EtcdRefusedException refused = refusal(e.getCause(), access, what, need);
            if (refused != null) {
                throw refused;
            }
            throw new Unreachable("etcd at " + access.endpoints() + ": " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Unreachable("interrupted", e);
        }
    }

    /** The refusal {@code t} means, in one line, or null when it is no refusal (etcd unreachable, say). */
    static EtcdRefusedException refusal(Throwable t, EtcdAccess access, String what, String need) {
        String at = "etcd at " + String.join(",", access.endpoints().stream().map(Object::toString).toList());
        String user = access.user() == null ? null : "'" + access.user() + "'";
        boolean tlsTrouble = false;
        String tlsDetail = null;
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String m = c.getMessage() == null ? "" : c.getMessage();
            String lower = m.toLowerCase(Locale.ROOT);
            if (lower.contains("authentication failed")) {
                return new EtcdRefusedException(at + " refused etcd user " + user + ": wrong user name or password (--etcd-user, "
                        + "--etcd-password-file)", t);
            }
            if (lower.contains("user name is empty") || lower.contains("user name not found") || lower.contains("invalid auth token")) {
                return new EtcdRefusedException(at + " refused the request to " + what + ": it has authentication on and "
                        + (user == null ? "no etcd user was given (--etcd-user, --etcd-password-file)" : "does not accept user " + user)
                        + " (" + firstLine(m) + ")", t);
            }
            if (lower.contains("permission denied")) {
                return new EtcdRefusedException(at + " denied " + (user == null ? "this client" : "etcd user " + user) + " permission to "
                        + what + ": its role needs " + need + " (see the README, 'etcd with TLS and a user')", t);
            }
            if (c instanceof javax.net.ssl.SSLException || c.getClass().getName().contains("NotSslRecord")
                    || lower.contains("tls negotiation") || lower.contains("ssl")) {
                tlsTrouble = true;
                if (tlsDetail == null || c instanceof javax.net.ssl.SSLException) {
                    tlsDetail = firstLine(m.isEmpty() ? c.getClass().getSimpleName() : m);
                }
            }
            if (c instanceof java.security.cert.CertPathValidatorException || c instanceof java.security.cert.CertPathBuilderException
                    || lower.contains("unable to find valid certification path")) {
                return new EtcdRefusedException(at + ": its TLS certificate is not signed by a CA we trust ("
                        + access.tlsFrom() + "): " + firstLine(m), t);
            }
            if (lower.contains("no subject alternative") || lower.contains("doesn't match any of the subject alternative")) {
                return new EtcdRefusedException(at + ": its TLS certificate does not name that address (" + firstLine(m) + ")", t);
            }
            if (lower.contains("bad_certificate") || lower.contains("certificate_required") || lower.contains("unknown_ca")
                    || lower.contains("certificate_unknown")) {
                return new EtcdRefusedException(at + " refused our TLS client certificate (" + firstLine(m) + "): it wants one signed "
                        + "by a CA it trusts (--etcd-cert, --etcd-key; now " + access.tlsFrom() + ")", t);
            }
        }
        if (tlsTrouble) {
            return new EtcdRefusedException(at + ": the TLS handshake failed (" + tlsDetail + "; " + access.tlsFrom()
                    + "); is it serving TLS, and with a certificate our CA signed?", t);
        }
        return null;
    }

    private static String firstLine(String m) {
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
