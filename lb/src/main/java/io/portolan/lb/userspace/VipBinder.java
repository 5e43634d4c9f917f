package io.portolan.lb.userspace;

import io.portolan.lb.host.VipAddresses;

import java.io.IOException;
import java.net.InetAddress;
import java.util.List;

/** Puts a VIP on a local interface and takes it away. The real one is {@link #on}; tests may bind nothing. */
interface VipBinder {
    /** Makes {@code vip} a local address. Idempotent: an address already there is fine. */
    void add(InetAddress vip);

    /** Removes {@code vip}. Idempotent: an address already gone is fine. */
    void remove(InetAddress vip);

    /** For VIPs already local (127.0.0.0/8 on lo, tests): does nothing. */
    VipBinder NONE = new VipBinder() {
        @Override
        public void add(InetAddress vip) {
        }

        @Override
        public void remove(InetAddress vip) {
        }
    };

    /** VIPs kept by {@code addresses}; loopback VIPs (127.0.0.0/8, ::1) are local already and left alone. */
    static VipBinder on(VipAddresses addresses) {
        return new VipBinder() {
            @Override
            public void add(InetAddress vip) {
                String refused = change(vip, true);
                if (refused != null) {
                    throw new IllegalStateException("cannot add " + vip.getHostAddress() + " to " + addresses.device() + ": "
                            + refused + "; check that the device exists and the agent runs as root");
                }
            }

            @Override
            public void remove(InetAddress vip) {
                String refused = change(vip, false);
                if (refused != null) {
                    UserspaceDataPlane.log.warn("cannot remove {} from {}: {}", vip.getHostAddress(), addresses.device(), refused);
                }
            }

            /** Null when done (or a loopback VIP), else why not. */
            private String change(InetAddress vip, boolean add) {
                if (vip.isLoopbackAddress()) {
                    return null;
                }
                try {
                    return (add ? addresses.add(List.of(vip)) : addresses.remove(List.of(vip))).get(vip);
                } catch (IOException e) {
                    return e.getMessage();
                }
            }
        };
    }
}
