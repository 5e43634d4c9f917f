package io.portolan.lb.host;

import io.portolan.proto.Validate;
import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The address keeper against the real {@code ip}, inside a network namespace this test creates. */
class VipAddressesTest {
    private final String ns = "ptl-vipaddr-" + ProcessHandle.current().pid();
    private final Exec exec = Exec.inNetns(ns);
    private static final Duration T = Duration.ofSeconds(10);

    private static InetAddress ip(String s) {
        return Validate.address("test", s);
    }

    private String addrs(String dev) throws Exception {
        return exec.check(List.of("ip", "-o", "addr", "show", "dev", dev), null, T).out();
    }

    @BeforeEach
    void namespace() throws Exception {
        Exec.local().check(List.of("ip", "netns", "add", ns), null, T);
        exec.check(List.of("ip", "link", "set", "lo", "up"), null, T);
    }

    @AfterEach
    void removeNamespace() throws Exception {
        Exec.local().check(List.of("ip", "netns", "del", ns), null, T);
    }

    @Test
    void shared_addListRemove_labelledOnesOnlyAndIdempotent() throws Exception {
        exec.check(List.of("ip", "addr", "add", "10.96.7.7/32", "dev", "lo"), null, T); // someone else's
        VipAddresses lo = VipAddresses.shared(exec, "lo");
        assertEquals(Map.of(), lo.add(List.of(ip("10.99.0.7"), ip("10.99.0.8"))));
        assertEquals(Map.of(), lo.add(List.of(ip("10.99.0.7"))), "adding again is fine");
        assertTrue(addrs("lo").contains("10.99.0.7/32") && addrs("lo").contains("lo:ptl"), addrs("lo"));
        assertEquals(Set.of(ip("10.99.0.7"), ip("10.99.0.8")), lo.list(), "ours only, not 10.96.7.7 nor 127.0.0.1");
        assertEquals(Map.of(), lo.remove(List.of(ip("10.99.0.7"), ip("10.99.0.9"))), "removing one that is gone is fine");
        assertEquals(Set.of(ip("10.99.0.8")), lo.list());
        assertTrue(addrs("lo").contains("10.96.7.7/32"), "an address we did not add stays");
        assertEquals(List.of(ip("10.99.0.8")), VipAddresses.labelledAnywhere(exec).stream().map(VipAddresses.Labelled::address).toList());
    }

    @Test
    void ownDevice_everyHostAddressOurs_andOnlyADummyDeviceIsDeleted() throws Exception {
        // this kernel has no dummy module (the IPVS VM test makes one): a veth end stands for the plane's own device
        VipAddresses dev = VipAddresses.ownDevice(exec, "ptl-v0");
        assertEquals(Set.of(), dev.list(), "no device yet: nothing of ours");
        exec.check(List.of("ip", "link", "add", "ptl-v0", "type", "veth", "peer", "name", "ptl-v1"), null, T);
        dev.ensureDummyDevice(); // present already: only set up
        assertTrue(exec.check(List.of("ip", "link", "show", "dev", "ptl-v0"), null, T).out().contains(",UP"));
        assertEquals(Map.of(), dev.add(List.of(ip("10.99.1.1"), ip("fd00::99"))));
        assertEquals(Set.of(ip("10.99.1.1"), ip("fd00::99")), dev.list(), "both families; not the link-local address");
        assertEquals(Map.of(), dev.remove(List.of(ip("fd00::99"))));
        assertEquals(Set.of(ip("10.99.1.1")), dev.list());
        assertFalse(dev.deleteDummyDevice(), "a veth is no dummy device: left alone");
        assertTrue(addrs("ptl-v0").contains("10.99.1.1/32"));
    }

    @Test
    void add_missingDevice_refusedNamingTheKernelsWords() throws Exception {
        Map<InetAddress, String> refused = VipAddresses.shared(exec, "nosuchdev0").add(List.of(ip("10.99.0.8"), ip("10.99.0.9")));
        assertEquals(Set.of(ip("10.99.0.8"), ip("10.99.0.9")), refused.keySet());
        assertTrue(refused.get(ip("10.99.0.8")).contains("nosuchdev0"), refused.toString());
    }

    @Test
    void deviceNames_badOnesRefusedNamingThem() {
        assertThrows(ValidationException.class, () -> VipAddresses.shared(exec, "eth0;rm"));
        ValidationException e = assertThrows(ValidationException.class, () -> VipAddresses.shared(exec, "averylongdev"));
        assertTrue(e.getMessage().contains("averylongdev") && e.getMessage().contains(":ptl"), e.getMessage());
        assertThrows(ValidationException.class, () -> VipAddresses.ownDevice(exec, "-x"));
    }
}
