package io.portolan.lb;

import io.portolan.proto.Cidr;
import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --dataplane}: the names there are and what {@code auto} comes to, over kinds whose probes say what the test wants. */
class DataPlanesTest {
    static final Cidr VIPS = Cidr.parse("--vip-cidr", "10.99.0.0/16");

    static DataPlaneKind kind(String name, String whyNot) {
        return new DataPlaneKind(name, List.of(), flags -> { }, (flags, vips) -> whyNot, (flags, meters) -> {
            throw new AssertionError("choose never starts a plane");
        }, flags -> { });
    }

    @Test
    void auto_firstKindThatCanRun() {
        DataPlaneKind a = kind("a", "no a here");
        DataPlaneKind b = kind("b", null);
        DataPlanes.Choice c = DataPlanes.choose("auto", Map.of(), VIPS, List.of(a, b));
        assertSame(b, c.kind());
        assertEquals("b", c.name());
        assertFalse(c.warning());
        assertTrue(c.reason().contains("b can run here") && c.reason().contains("a: no a here"), c.reason());
    }

    @Test
    void auto_noKindCanRun_noneWithAWarningSayingWhy() {
        DataPlanes.Choice c = DataPlanes.choose("auto", Map.of(), VIPS, List.of(kind("a", "no a"), kind("b", "no b")));
        assertNull(c.kind());
        assertEquals("none", c.name());
        assertTrue(c.warning());
        assertTrue(c.reason().contains("a: no a") && c.reason().contains("b: no b"), c.reason());
    }

    @Test
    void named_isTakenAsAsked_withoutProbing() {
        DataPlanes.Choice c = DataPlanes.choose("nftables", Map.of(), VIPS);
        assertEquals("nftables", c.name());
        assertFalse(c.warning());
        assertEquals("none", DataPlanes.choose("none", Map.of(), VIPS).name());
    }

    @Test
    void checkName_unknown_namesFlagAndValue() {
        ValidationException e = assertThrows(ValidationException.class, () -> DataPlanes.checkName("--dataplane", "kernel"));
        assertTrue(e.getMessage().contains("--dataplane") && e.getMessage().contains("kernel") && e.getMessage().contains("auto"), e.getMessage());
        assertEquals(List.of("auto", "none", "userspace", "nftables", "ipvs"), DataPlanes.names());
        assertEquals(List.of("nftables", "userspace"), DataPlanes.AUTO_ORDER.stream().map(DataPlaneKind::name).toList());
    }

    @Test
    void userspaceProbe_loopbackVipsNeedNoPrivilege() {
        // the userspace kind's probe: 127.0.0.0/8 VIPs are local on any host; others need CAP_NET_ADMIN
        assertNull(io.portolan.lb.userspace.UserspaceProbeAccess.probe("127.70.0.0/24", false));
        assertTrue(io.portolan.lb.userspace.UserspaceProbeAccess.probe("10.99.0.0/16", false).contains("CAP_NET_ADMIN"));
        assertNull(io.portolan.lb.userspace.UserspaceProbeAccess.probe("10.99.0.0/16", true));
    }
}
