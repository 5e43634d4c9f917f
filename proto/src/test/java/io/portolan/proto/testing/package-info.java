/**
 * Test fixtures shared by the modules' tests: {@link io.portolan.proto.testing.Snapshots} builds the
 * {@link io.portolan.proto.ClusterSnapshot}s they feed to the DNS server and the data planes.
 * Published as proto's test-jar (a test-scoped dependency of dns and lb); not shipped.
 */
package io.portolan.proto.testing;
