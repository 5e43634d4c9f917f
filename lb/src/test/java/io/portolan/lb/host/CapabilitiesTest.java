package io.portolan.lb.host;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CapabilitiesTest {
    @Test
    void has_readsTheEffectiveSet() {
        String root = "Name:\tjava\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";
        String nobody = "Name:\tjava\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n";
        String onlyNetAdmin = "CapPrm:\t0000000000001000\nCapEff:\t0000000000001000\n";
        String bindOnly = "CapEff:\t0000000000000400\n";
        assertTrue(Capabilities.has(root, Capabilities.CAP_NET_ADMIN));
        assertFalse(Capabilities.has(nobody, Capabilities.CAP_NET_ADMIN));
        assertTrue(Capabilities.has(onlyNetAdmin, Capabilities.CAP_NET_ADMIN));
        assertFalse(Capabilities.has(bindOnly, Capabilities.CAP_NET_ADMIN));
        assertFalse(Capabilities.has("Name:\tx\n", Capabilities.CAP_NET_ADMIN));
    }
}
