/**
 * Health checks run by the agent on an instance's own node ({@link io.portolan.agent.health.HealthChecker}):
 * tcp, http and gRPC probes ({@link io.portolan.agent.health.Probes}), rise and fall counting, and
 * the outcome written to the instance in the registry only when it changes.
 */
package io.portolan.agent.health;
