/**
 * {@link io.portolan.lb.sync.CoalescingSync}: the one place a kernel data plane's bursts of
 * snapshots are coalesced (latest wins, minimum interval, retry with backoff, full resync after a
 * failure and periodically).
 */
package io.portolan.lb.sync;
