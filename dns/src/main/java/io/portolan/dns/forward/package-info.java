/**
 * Names outside the zone: {@link io.portolan.dns.forward.Forwarder} asks the upstreams (UDP, TCP
 * on truncation, failover, in-flight bound) and caches their answers by TTL within a memory bound;
 * {@link io.portolan.dns.forward.ResolvConf} gives the default upstreams, the host's resolv.conf
 * nameservers minus this server's own addresses.
 */
package io.portolan.dns.forward;
