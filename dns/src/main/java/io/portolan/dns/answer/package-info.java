/**
 * Pure answer logic: a {@link io.portolan.dns.answer.ZoneTable} holds every answer precomputed
 * from one {@code ClusterSnapshot}, made by a {@link io.portolan.dns.answer.ZoneCompiler} that
 * compiles again only what changed since its last snapshot; {@link io.portolan.dns.answer.WireQuery}
 * reads a query at the byte level, the name is looked up in the packet itself, and
 * {@link io.portolan.dns.answer.Responses} writes the response. No sockets here.
 */
package io.portolan.dns.answer;
