/**
 * The embedded DNS server's public surface: {@link io.portolan.dns.DnsConfig} (with parse helpers
 * for the {@code --dns-*} flags), {@link io.portolan.dns.ClientNetwork} (a network allowed
 * recursion) and {@link io.portolan.dns.DnsServer} (start, update with each snapshot, close).
 * Everything else is in the feature packages below.
 */
package io.portolan.dns;
