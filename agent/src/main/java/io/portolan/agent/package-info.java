/** The daemon ({@link io.portolan.agent.Agent}) and the command-line entry point ({@link io.portolan.agent.Main}). */
package io.portolan.agent;
