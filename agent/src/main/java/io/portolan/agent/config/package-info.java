/**
 * The agent's flags and config file ({@link io.portolan.agent.config.Flags}) and the settings
 * parsed from them ({@link io.portolan.agent.config.AgentConfig}); the DNS server's and the data
 * planes' flags are handed on to the module that owns them.
 */
package io.portolan.agent.config;
