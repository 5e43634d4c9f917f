package io.portolan.lb.nftables;

import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.lb.DataPlane;
import io.portolan.proto.ValidationException;

import java.util.Map;
import java.util.Set;

/**
 * The nftables data plane (issue 5). Factory contract the agent relies on: {@link #FLAGS} (flag names
 * without dashes, each starting with "nft-"), {@link #create} and {@link #cleanup}.
 * Not built yet: {@link #create} refuses with a clear error.
 */
public final class NftablesDataPlane {
    public static final Set<String> FLAGS = Set.of();

    private NftablesDataPlane() {
    }

    /** Validates {@code flags} (errors name the flag and value) and starts the data plane. */
    public static DataPlane create(Map<String, String> flags, MeterRegistry meters) {
        throw new ValidationException("--dataplane", "nftables", "this build has no nftables data plane yet; use none or userspace");
    }

    /** Removes everything this data plane made on this host, and nothing else. */
    public static void cleanup(Map<String, String> flags) {
        // nothing was ever made
    }
}
