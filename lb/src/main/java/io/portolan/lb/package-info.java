/** The data planes behind one interface, {@link io.portolan.lb.DataPlane}: userspace, nftables, ipvs. */
package io.portolan.lb;
