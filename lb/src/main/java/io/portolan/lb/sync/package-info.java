/** Coalescing, rate-limited, retrying sync of snapshots into a kernel data plane (nftables, IPVS). */
package io.portolan.lb.sync;
