/**
 * The registry side of the agent: the {@link io.portolan.agent.registry.Registry} contract that the
 * etcd and local stores fulfil, the single-writer {@link io.portolan.agent.registry.RegistryState},
 * the {@link io.portolan.agent.registry.SnapshotPublisher} every consumer reads from, and what both stores
 * share: {@link io.portolan.agent.registry.Deadlines} (TTLs kept as local deadlines) and
 * {@link io.portolan.agent.registry.Journal} (the append-only change log in the state directory).
 */
package io.portolan.agent.registry;
