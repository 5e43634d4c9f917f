/**
 * The transports and the one stateless {@link io.portolan.dns.server.QueryHandler} they share.
 * UDP: SO_REUSEPORT sockets of the listen address's family, each served by a blocking thread of
 * its own (the default) or by a Netty event loop ({@code --dns-udp-io eventloop}). TCP: on the
 * Netty event loops, with length framing; those loops also carry the forwarder's upstream sockets.
 * The handler rate-limits, answers from the zone table, or forwards for allowed clients; metrics.
 */
package io.portolan.dns.server;
