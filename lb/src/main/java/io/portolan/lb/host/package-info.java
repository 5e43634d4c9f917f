/**
 * The host toolkit every data plane uses for its chores on the host: {@link io.portolan.lb.host.Exec}
 * runs a command (argv only, never a shell; stdin, a timeout, stderr kept for the error), and
 * {@link io.portolan.lb.host.VipAddresses} keeps VIP addresses on a device (creates the device,
 * adds, removes and adopts the addresses that are ours, leaves everyone else's alone).
 */
package io.portolan.lb.host;
