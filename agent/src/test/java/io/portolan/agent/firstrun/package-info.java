/**
 * The first run as a new user makes it, each in a fresh network namespace: what {@code --dataplane auto}
 * chooses with and without privileges ({@code DataPlaneAutoTest}), and the README's quick start run line
 * by line as it is written ({@code QuickStartTest}).
 */
package io.portolan.agent.firstrun;
