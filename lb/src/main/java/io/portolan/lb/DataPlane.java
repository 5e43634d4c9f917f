package io.portolan.lb;

import io.portolan.proto.ClusterSnapshot;

/**
 * Makes every {@code vip}-mode service's virtual IP reach its serving instances. The agent calls
 * {@link #update} with every published snapshot, from one thread. The kinds there are, with their
 * flags, are listed in {@link DataPlanes}.
 */
public interface DataPlane extends AutoCloseable {
    /** A short name for logs and metrics: none, userspace, nftables, ipvs. */
    String name();

    /**
     * Brings the data plane toward {@code snapshot}. Must not throw for a bad service: log it and go
     * on. A plane that {@link #coalesces} returns at once; one that does not works in this call,
     * and the agent then gives it a thread of its own where newer snapshots replace older ones.
     */
    void update(ClusterSnapshot snapshot);

    /**
     * Whether {@link #update} only hands the snapshot to the plane's own {@link io.portolan.lb.sync.CoalescingSync}
     * (the kernel planes), so that bursts are coalesced there and nowhere else.
     */
    default boolean coalesces() {
        return false;
    }

    /**
     * Its state for the status page: cheap (no host command, no kernel read), safe from any thread.
     * A plane that keeps no more says only its name.
     */
    default DataPlaneStatus status() {
        return new DataPlaneStatus(name(), 0, 0, null, null, -1, java.util.Map.of(), java.util.List.of(), "not counted by this data plane");
    }

    /** Stops forwarding what this data plane set up for this process (kernel rules may be left for adoption). */
    @Override
    void close();
}
