/**
 * The userspace data plane: a Netty (native epoll) TCP and UDP proxy listening on each service's
 * VIP, with per-service schedulers (rr, wrr, lc, p2c, sh), connect retries, passive outlier
 * ejection, draining, idle timeouts, PROXY protocol v2 and a source-address pool. Public surface:
 * {@link io.portolan.lb.userspace.UserspaceConfig} and
 * {@link io.portolan.lb.userspace.UserspaceDataPlane#create}; everything else is package-private.
 */
package io.portolan.lb.userspace;
