/**
 * The ipvs data plane ({@link io.portolan.lb.ipvs.IpvsDataPlane}): a firewall mark per VIP port and
 * per published port, an iptables mangle rule that marks the traffic, an IPVS virtual service by
 * that mark with the serving instances as masquerading real servers, SNAT, and the VIPs on a dummy
 * device. A pure render and diff ({@code IpvsRender}, {@code IpvsDiff}), one sync ({@code IpvsSyncer})
 * that applies the plan through ipvsadm, and the host chores around it ({@code IpvsHost}).
 */
package io.portolan.lb.ipvs;
