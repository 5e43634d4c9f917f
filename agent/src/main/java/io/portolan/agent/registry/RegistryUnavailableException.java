package io.portolan.agent.registry;

/** The store could not be reached, or did not answer within the call timeout. */
public final class RegistryUnavailableException extends RuntimeException {
    public RegistryUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
