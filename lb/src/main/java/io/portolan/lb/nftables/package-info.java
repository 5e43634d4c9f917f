/**
 * The nftables data plane ({@link io.portolan.lb.nftables.NftablesDataPlane}): VIPs and published
 * ports DNATed in the kernel from one table of slot maps. A pure render and diff ({@code NftRender},
 * {@code NftDiff}) and one {@code nft} transaction per sync ({@code Nft}).
 */
package io.portolan.lb.nftables;
