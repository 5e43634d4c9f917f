/**
 * The data planes behind one interface, {@link io.portolan.lb.DataPlane}, and the list of their
 * kinds, {@link io.portolan.lb.DataPlanes} (userspace, nftables, ipvs), each a
 * {@link io.portolan.lb.DataPlaneKind}: its name, its flags, and how to check them, create the plane
 * and clean up after it. The agent loops over the kinds and names none of them.
 */
package io.portolan.lb;
