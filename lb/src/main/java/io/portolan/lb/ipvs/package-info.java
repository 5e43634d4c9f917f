/** The ipvs data plane. */
package io.portolan.lb.ipvs;
