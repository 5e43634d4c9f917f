/**
 * The registry side of the agent: the {@link io.portolan.agent.registry.Registry} contract that the
 * etcd and local stores fulfil, the single-writer {@link io.portolan.agent.registry.RegistryState},
 * and the {@link io.portolan.agent.registry.SnapshotPublisher} every consumer reads from.
 */
package io.portolan.agent.registry;
