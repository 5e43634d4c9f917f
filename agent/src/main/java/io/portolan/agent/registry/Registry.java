package io.portolan.agent.registry;

import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Node;
import io.portolan.proto.Service;

/**
 * A store of services and instances (etcd, or the embedded local store) with the same contract:
 * it feeds a {@link RegistryState} with every change, allocates VIPs so that no two services
 * share one, and keeps instances only while their lease is kept alive.
 */
public interface Registry extends AutoCloseable {

    /** Starts feeding {@code state}: a full listing, then every change. Returns at once; retries on its own. */
    void start(RegistryState state);

    /**
     * Returns the stored service named {@code wanted.name()}, creating it from {@code wanted} (with
     * a VIP from the pool in vip mode) when absent, and adding any of {@code wanted}'s ports it lacks.
     *
     * @throws io.portolan.proto.ValidationException when the stored service conflicts (another mode)
     * @throws RegistryUnavailableException when the store cannot be reached in time
     */
    Service ensureService(Service wanted);

    /**
     * Stores {@code instance} under a lease of {@code ttlSeconds}. With {@code keepsItselfAlive} the
     * registry keeps the lease alive itself until the lease is closed (a registrant process);
     * otherwise the caller calls {@link Lease#keepAliveOnce()} (the agent, on each heartbeat).
     */
    Lease register(Instance instance, int ttlSeconds, boolean keepsItselfAlive);

    /**
     * Stores {@code instance} for a registrant of this agent (the HTTP API), kept alive by its heartbeats
     * ({@link Lease#keepAliveOnce()}): its TTL is a deadline kept by the agent. The etcd store puts it under
     * the agent's one host lease and deletes it when the deadline passes, and keeps it, with
     * {@code registrant} (the address it came from, or null), in the state directory so that a restarted
     * agent holds it again ({@link #held()}); the embedded store keeps it as a lease of its own.
     */
    default Lease hold(Instance instance, int ttlSeconds, java.net.InetAddress registrant) {
        return register(instance, ttlSeconds, false);
    }

    /** What {@link #hold} holds at start, taken back from the state directory (heartbeats go on); empty if nothing is kept. */
    default java.util.List<Lease> held() {
        return java.util.List.of();
    }

    /**
     * Announces this host's agent ({@code nodes/NAME}): under a lease the registry keeps alive until
     * the returned lease is revoked (etcd: the host lease, which also holds the instances of {@link #hold};
     * a crashed agent's node goes with its TTL; revoking deletes the node's key and stops the renewals,
     * leaving the held instances to the lease's TTL or to the restarted agent); the embedded store keeps
     * it as a plain key.
     */
    Lease announce(Node node);

    /**
     * Writes a check's outcome to the stored instance {@code service/id}, keeping its lease, only if
     * its health or reason differs; false when the instance is gone (or changed under us: the next
     * check writes again).
     */
    boolean setHealth(String service, String id, Health health, String reason);

    /** Removes an instance; false when it did not exist. */
    boolean deregister(String service, String id);

    /** Removes a service, its instances, and frees its VIP; false when it did not exist. */
    boolean deleteService(String name);

    /** A short name: etcd or local. */
    String kind();

    /** Where the store is, for the status page: etcd's endpoints, or the local store's directory. */
    default java.util.List<String> endpoints() {
        return java.util.List.of();
    }

    /** Whether the store answered the last time it was read (listing, watch), for the status page. */
    default boolean connected() {
        return true;
    }

    @Override
    void close();

    /** An instance's hold on the store. */
    interface Lease extends AutoCloseable {
        /** The instance held, or null for a node's announcement. */
        Instance instance();

        /** Where the registration came from ({@link #hold}'s {@code registrant}), or null. */
        default java.net.InetAddress registrant() {
            return null;
        }

        /**
         * Renews the lease; if the store lost it (expired while unreachable), grants a new one and
         * puts the instance again, so the key is never left without a lease.
         */
        void keepAliveOnce();

        /** Stops keeping the instance alive and deletes it. */
        void revoke();

        /** Stops keeping the instance alive; it expires with its TTL. */
        @Override
        void close();
    }
}
