package io.portolan.lb.userspace;

import io.portolan.proto.Cidr;

/** Reaches the userspace plane's probe from other test packages. */
public final class UserspaceProbeAccess {
    private UserspaceProbeAccess() {
    }

    public static String probe(String cidr, boolean netAdmin) {
        return UserspaceDataPlane.probe(Cidr.parse("--vip-cidr", cidr), netAdmin, true, "lo");
    }
}
