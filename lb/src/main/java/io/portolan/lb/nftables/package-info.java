/** The nftables data plane. */
package io.portolan.lb.nftables;
