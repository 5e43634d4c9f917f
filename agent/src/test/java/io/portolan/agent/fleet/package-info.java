/**
 * The fleet: end-to-end tests with several hosts as network namespaces on one underlay bridge, each
 * running the real launcher and agent, one member of a 3-member etcd cluster and containers behind a
 * bridge, plus an outside client. {@link io.portolan.agent.fleet.Fleet} is the reusable fixture
 * (agent/README.md, "The fleet harness"); {@link io.portolan.agent.fleet.Sh} runs its commands
 * (argv only, bounded in time).
 */
package io.portolan.agent.fleet;
