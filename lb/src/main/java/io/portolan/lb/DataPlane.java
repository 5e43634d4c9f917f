package io.portolan.lb;

import io.portolan.proto.ClusterSnapshot;

/**
 * Makes every {@code vip}-mode service's virtual IP reach its serving instances. The agent calls
 * {@link #update} with every published snapshot, from one thread; implementations coalesce bursts
 * and must never block that caller for long (render, then hand the plan to their own applier).
 */
public interface DataPlane extends AutoCloseable {
    /** A short name for logs and metrics: none, userspace, nftables, ipvs. */
    String name();

    /** Brings the data plane toward {@code snapshot}. Must not throw for a bad service: log it and go on. */
    void update(ClusterSnapshot snapshot);

    /** Stops forwarding what this data plane set up for this process (kernel rules may be left for adoption). */
    @Override
    void close();
}
