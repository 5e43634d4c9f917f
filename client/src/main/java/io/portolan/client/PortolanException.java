package io.portolan.client;

/**
 * The agent refused a call, or could not be reached within the retry time. The message names the
 * call, the agent and the agent's own error text.
 */
public final class PortolanException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    PortolanException(int status, String message, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    /**
     * The agent's HTTP status: 400 bad input, 403 not allowed on this listener, 409 conflict with the
     * stored service (another mode), 503 its store unreachable; 0 when the agent itself could not be
     * reached (or the call was interrupted).
     */
    public int status() {
        return status;
    }
}
