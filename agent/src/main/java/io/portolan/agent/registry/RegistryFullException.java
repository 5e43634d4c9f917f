package io.portolan.agent.registry;

/**
 * The store refused a write for lack of space (etcd's {@code mvcc: database space exceeded}: its backend
 * is over {@code --quota-backend-bytes} and the NOSPACE alarm is raised). Not a passing outage: it lasts
 * until an operator frees space and clears the alarm. The message carries the store's own words.
 */
public final class RegistryFullException extends RuntimeException {
    public RegistryFullException(String message, Throwable cause) {
        super(message, cause);
    }
}
