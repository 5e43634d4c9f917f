package io.portolan.lb;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * What a data plane tells the agent's status page about itself, read cheaply from what the plane
 * already keeps: its syncs, what the kernel refused, and the traffic it counts per backend.
 *
 * @param syncs          snapshots applied without error
 * @param failedSyncs    syncs that failed (each is retried as a full one)
 * @param lastSync       when the last sync without error ended, or null
 * @param lastSyncTook   how long that sync took, or null
 * @param syncedRevision the registry revision of the last snapshot applied, or -1
 * @param rejected       services the kernel or the plane refused, with why
 * @param traffic        per service port and instance, what the plane counts; empty where it counts nothing
 * @param trafficNote    what {@code traffic} covers on this plane, in one line
 */
public record DataPlaneStatus(String name, long syncs, long failedSyncs, Instant lastSync, Duration lastSyncTook, long syncedRevision,
                              Map<String, String> rejected, List<Traffic> traffic, String trafficNote) {
    public DataPlaneStatus {
        rejected = Map.copyOf(rejected);
        traffic = List.copyOf(traffic);
    }

    /**
     * One backend (instance) of one service port as the plane sees it; -1 where the plane does not
     * count that figure.
     *
     * @param port              number/protocol, as in {@code 80/tcp}
     * @param active            open connections (TCP) or flows (UDP)
     * @param connections       connections or flows established since the backend was added
     * @param bytesToInstance   bytes relayed toward the instance
     * @param bytesFromInstance bytes relayed back
     */
    public record Traffic(String service, String port, String instance, long active, long connections,
                          long bytesToInstance, long bytesFromInstance) {
    }
}
