package io.portolan.lb.userspace;

import java.net.InetAddress;

/** Puts a VIP on a local interface and takes it away. The real one runs {@code ip}; tests may bind nothing. */
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
}
