package io.portolan.agent.registry.etcd;

/**
 * etcd, or the TLS handshake with it, refused this client: a certificate not trusted either way, a wrong
 * user or password, a role without the permission needed. Not a passing outage: retrying will not help.
 */
public final class EtcdRefusedException extends RuntimeException {
    public EtcdRefusedException(String message, Throwable cause) {
        super(message, cause);
    }
}
