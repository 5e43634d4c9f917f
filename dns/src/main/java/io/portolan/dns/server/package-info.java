/**
 * The Netty transports (UDP with SO_REUSEPORT on epoll, TCP with length framing) and the one
 * stateless {@link io.portolan.dns.server.QueryHandler} they share: rate limit, answer from the
 * zone table, or forward for allowed clients; metrics.
 */
package io.portolan.dns.server;
