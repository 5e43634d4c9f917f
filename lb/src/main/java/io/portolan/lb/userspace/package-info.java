/**
 * The userspace data plane: a TCP and UDP proxy listening on each service's VIP. TCP is relayed by
 * portolan's own epoll loop over a few JNI system calls ({@code NativeLoop}, the default) or by
 * Netty's epoll transport ({@code --lb-tcp-io netty}, and with splice); UDP by Netty. Per-service
 * schedulers (rr, wrr, lc, p2c, sh), connect retries, passive outlier ejection, draining, idle
 * timeouts, PROXY protocol v2 and a source-address pool. Public surface:
 * {@link io.portolan.lb.userspace.UserspaceDataPlane#KIND}, {@code create} and
 * {@link io.portolan.lb.userspace.UserspaceConfig}; everything else is package-private.
 */
package io.portolan.lb.userspace;
