/** Flags, the config file, and the agent's settings parsed from them. */
package io.portolan.agent.config;
