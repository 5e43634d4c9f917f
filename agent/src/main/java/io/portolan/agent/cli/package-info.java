/** The client subcommands: register (with the process wrapper), deregister, services, delete-service. */
package io.portolan.agent.cli;
