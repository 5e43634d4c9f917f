package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.Client;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The one etcd member this process talks to, through a jetcd client that knows that member alone:
 * one connection carries every call of the registry (listings, writes, leases and their
 * keep-alives) and every watch. A round-robin client over every member would hold a connection to
 * each, and cannot be told to leave one: a member cut off from us keeps a connection that looks
 * ready until gRPC's keepalive gives up on it (10 s + 5 s), calls sent there wait for their whole
 * timeout, and a watch stream on it just goes silent.
 *
 * <p>Whoever finds the member failing (a call that timed out or found it unavailable, a watch that
 * failed or fell silent) {@link #failed reports} it: the member's client is closed (its connection
 * with it, so nothing waits on it any longer; watches on it end and resume, calls on it fail and are
 * tried again) and the next member in the list takes over, with a fresh client and so a fresh
 * connection (no reconnect backoff carried over from an outage). With one endpoint the same member
 * is taken again through a new connection. A member is given {@value #MIN_AGE_MS} ms before it can
 * be left, so that an outage of every member turns the clients over at most once a second.
 *
 * <p>Every answer through a member is {@linkplain Member#heard() noted}: a watch needs no progress
 * request of its own while the agent's lease keep-alives, on the same connection, show the member
 * answering ({@link PrefixWatch}).
 */
final class Members implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Members.class);
    /** A member is not left sooner than this after it was taken. */
    static final long MIN_AGE_MS = 1_000;
    /**
     * A member that failed a call but answered something else this recently is kept ({@link #suspect}):
     * a loaded etcd answers late, and leaving it would only add a new connection and a watch to catch up.
     */
    static final long QUIET_BEFORE_LEAVING_MS = 2_000;

    /** One member and the client that talks to it alone. */
    static final class Member {
        private final int index;
        private final URI endpoint;
        private final Client client;
        private final long takenAt = System.nanoTime();
        private volatile long heardAt = takenAt;

        Member(int index, URI endpoint, Client client) {
            this.index = index;
            this.endpoint = endpoint;
            this.client = client;
        }

        int index() {
            return index;
        }

        URI endpoint() {
            return endpoint;
        }

        Client client() {
            return client;
        }

        /** Something came back through this member (a call's answer, a watch response). */
        void heard() {
            heardAt = System.nanoTime();
        }

        /** When this member last answered anything (System.nanoTime), or was taken. */
        long heardAt() {
            return heardAt;
        }

        /** How long since this member last answered anything. */
        long quietMillis() {
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - heardAt);
        }

        long ageMillis() {
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - takenAt);
        }

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

    /**
     * {@code clients} builds a client for one endpoint; none is built before the first {@link #current()}.
     *
     * @param first the index in {@code endpoints} of the member to talk to first
     */
    Members(List<URI> endpoints, Function<URI, Client> clients, int first) {
        if (endpoints.isEmpty()) {
            throw new IllegalArgumentException("no etcd endpoint to talk to");
        }
        if (first < 0 || first >= endpoints.size()) {
            throw new IllegalArgumentException("first member " + first + " is not one of " + endpoints.size());
        }
        this.endpoints = List.copyOf(endpoints);
        this.clients = clients;
        this.next = first;
    }

    /** The member to talk to now (its client built on first use). */
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
     * A call through {@code m} timed out, or etcd on it answered that it could not serve it (no
     * leader, a request timed out inside etcd): {@link #failed} if the member has answered nothing
     * for {@value #QUIET_BEFORE_LEAVING_MS} ms, else kept. A member cut off from us answers nothing at
     * all, so its next failure leaves it; one that is only loaded goes on answering the rest (the
     * watch's events, other calls) late, and is kept; a member cut off from etcd's quorum answers
     * "no leader" to everything, and is left once it has for that long (an election takes 1-2 s).
     */
    Member suspect(Member m, String why) {
        long quiet = m.quietMillis();
        if (quiet < QUIET_BEFORE_LEAVING_MS) {
            synchronized (this) {
                if (closed) {
                    throw new IllegalStateException("closed");
                }
                return current();
            }
        }
        return failed(m, why + "; nothing else heard from it for " + quiet + " ms");
    }

    /**
     * A call or a watch through {@code m} failed, or a watch fell silent: unless another caller
     * reported it already, or it was taken less than {@value #MIN_AGE_MS} ms ago, closes its client
     * and moves on to the next member. Returns the member to use now.
     */
    Member failed(Member m, String why) {
        Client stale = null;
        Member now;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("closed");
            }
            if (current == m && m.ageMillis() >= MIN_AGE_MS) {
                stale = m.client();
                current = null;
                next = m.index() + 1;
            }
            now = current();
        }
        if (stale != null) {
            if (now.endpoint().equals(m.endpoint())) {
                log.info("etcd member {} failed ({}); talking to it again through a new connection", m, why);
            } else {
                log.warn("leaving etcd member {} ({}); talking to {} now", m, why, now);
            }
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
            log.debug("closing an etcd client: {}", e.toString());
        }
    }
}
