/**
 * The transports (UDP on SO_REUSEPORT sockets, each served by a blocking thread of its own or by
 * a Netty event loop; TCP on Netty with length framing) and the one stateless
 * {@link io.portolan.dns.server.QueryHandler} they share: rate limit, answer from the zone table,
 * or forward for allowed clients; metrics.
 */
package io.portolan.dns.server;
