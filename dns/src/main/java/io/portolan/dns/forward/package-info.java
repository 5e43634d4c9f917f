/**
 * Names outside the zone: {@link io.portolan.dns.forward.Forwarder} asks the upstreams (UDP, TCP
 * on truncation, failover, in-flight bound) and caches their answers by TTL within a memory bound.
 */
package io.portolan.dns.forward;
