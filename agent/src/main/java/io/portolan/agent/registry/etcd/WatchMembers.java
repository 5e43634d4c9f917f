package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.Client;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.List;
import java.util.function.Function;

/**
 * The etcd member that serves this process's watches, through a jetcd client of its own that
 * knows that one member. The registry's other calls use a client over every member (gRPC round
 * robin), which cannot be told to leave one: a member cut off from us keeps a connection that
 * looks ready until gRPC's keepalive gives up on it (10 s + 5 s), and a watch stream on it just
 * goes silent. Here a watch that fails or falls silent {@link #failed reports} its member: that
 * member's client is closed (its connection with it, so nothing waits on it any longer; the other
 * watches on it end and resume) and the next member in the list takes over, with a fresh client
 * and so a fresh connection (no reconnect backoff carried over from an outage). With one endpoint
 * the same member is taken again through a new connection.
 */
final class WatchMembers implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WatchMembers.class);

    /** One member and the client that talks to it alone. */
    record Member(int index, URI endpoint, Client client) {
        @Override
        public String toString() {
            return endpoint.toString();
        }
    }

    private final List<URI> endpoints;
    private final Function<URI, Client> clients;
    private Member current;
    private int next;
    private boolean closed;

    /** {@code clients} builds a client for one endpoint; none is built before the first {@link #current()}. */
    WatchMembers(List<URI> endpoints, Function<URI, Client> clients) {
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("no etcd endpoint to watch through");
        }
        this.endpoints = List.copyOf(endpoints);
        this.clients = clients;
    }

    /** The member to watch through now (its client built on first use). */
    synchronized Member current() {
        if (closed) {
            throw new IllegalStateException("closed");
        }
        if (current == null) {
            int i = next % endpoints.size();
            URI e = endpoints.get(i);
            current = new Member(i, e, clients.apply(e));
        }
        return current;
    }

    /**
     * A watch through {@code m} failed or fell silent: unless another watch reported it already,
     * closes its client and moves on to the next member. Returns the member to use now.
     */
    Member failed(Member m, String why) {
        Client stale = null;
        Member now;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("closed");
            }
            if (current == m) {
                stale = m.client();
                current = null;
                next = m.index() + 1;
            }
            now = current();
        }
        if (stale != null) {
            log.debug("leaving etcd member {} for the watches ({}); watching through {}", m, why, now);
            closeQuietly(stale);
        }
        return now;
    }

    @Override
    public void close() {
        Member m;
        synchronized (this) {
            closed = true;
            m = current;
            current = null;
        }
        if (m != null) {
            closeQuietly(m.client());
        }
    }

    private static void closeQuietly(Client c) {
        try {
            c.close();
        } catch (RuntimeException e) {
            log.debug("closing a watch client: {}", e.toString());
        }
    }
}
