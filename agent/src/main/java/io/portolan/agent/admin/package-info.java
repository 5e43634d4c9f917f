/** The agent's HTTP API: registration, heartbeats, the snapshot, health and Prometheus metrics. */
package io.portolan.agent.admin;
