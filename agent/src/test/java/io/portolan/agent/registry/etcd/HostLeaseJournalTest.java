package io.portolan.agent.registry.etcd;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.Cidr;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host lease's state directory against a real etcd: one line per registration or removal, none per
 * heartbeat, the journal rewritten once it holds more than it describes, everything (with the
 * registrants' addresses) held again after a restart, a torn last line ignored, a second agent on the
 * same directory refused.
 */
class HostLeaseJournalTest {
    static final KeyLayout LAYOUT = new KeyLayout("/portolan/");

    static Instance instance(int n) {
        return JsonCodec.decodeInstance(("{\"schema\":1,\"id\":\"i" + n + "\",\"service\":\"s" + (n % 3) + "\",\"node\":\"n1\",\"address\":\"10.1.0."
                + (n + 1) + "\",\"ports\":[{\"port\":80}]}").getBytes(StandardCharsets.UTF_8));
    }

    static EtcdRegistry registry(EtcdServer etcd, Path dir) {
        return new EtcdRegistry(EtcdAccess.plain(List.of(etcd.endpoint())), LAYOUT, Cidr.parse("vip-cidr", "10.99.0.0/16"),
                Duration.ofSeconds(5), new SimpleMeterRegistry(), dir);
    }

    static long lines(Path f) throws Exception {
        return Files.readAllLines(f, StandardCharsets.ISO_8859_1).size();
    }

    @Test
    void heartbeatsWriteNothing_reRegistrationsCompacted_restartHoldsEverythingWithRegistrants_tornTailIgnored() throws Exception {
        Path dir = Files.createTempDirectory("host-lease-journal");
        Path journal = dir.resolve(HostLease.FILE);
        try (EtcdServer etcd = new EtcdServer()) {
            try (EtcdRegistry r = registry(etcd, dir)) {
                List<Registry.Lease> leases = new java.util.ArrayList<>();
                for (int n = 0; n < 10; n++) {
                    leases.add(r.hold(instance(n), 30, InetAddress.getByName("172.17.0." + (n + 2))));
                }
                long afterRegistrations = lines(journal);
                for (int beat = 0; beat < 50; beat++) {
                    leases.forEach(Registry.Lease::keepAliveOnce);
                }
                assertEquals(afterRegistrations, lines(journal), "heartbeats write nothing");
                // the same ten registered again and again: the journal is rewritten, never more than 1,024 + 4 x held lines' ops
                int rounds = 1_500; // 3,000 ops written: past the bound, so rewritten at least twice
                for (int round = 0; round < rounds; round++) {
                    int n = round % 10;
                    r.hold(instance(n), 30, InetAddress.getByName("172.17.0." + (n + 2)));
                }
                long ops = opsIn(journal);
                assertTrue(ops <= 1024 + 4 * 10 + 2, "the journal stays bounded: " + ops + " ops after " + (2 * (10 + rounds)) + " written");
                assertTrue(r.deregister("s1", "i1"), "deregistered (its key deleted)");
            }
            // a torn last line (the agent killed mid-write): ignored with a warning
            Files.writeString(journal, "{\"rev\":99999,\"ops\":[{\"put\":\"/portolan/instances/s0/x", StandardOpenOption.APPEND);
            try (EtcdRegistry r = registry(etcd, dir)) {
                Map<String, String> held = new TreeMap<>();
                for (Registry.Lease l : r.held()) {
                    held.put(l.instance().service() + "/" + l.instance().id(), l.registrant().getHostAddress());
                }
                Map<String, String> want = new TreeMap<>();
                for (int n = 0; n < 10; n++) {
                    if (n != 1) {
                        want.put("s" + (n % 3) + "/i" + n, "172.17.0." + (n + 2));
                    }
                }
                assertEquals(want, held, "every held instance, with the address it was registered from");
                // a second agent on the same state directory is refused, naming it
                ValidationException e = assertThrows(ValidationException.class, () -> registry(etcd, dir).close());
                assertTrue(e.getMessage().contains("another portolan agent is using it"), e.getMessage());
            }
        }
    }

    /** The ops in the journal (each line's ops). */
    static long opsIn(Path f) throws Exception {
        long ops = 0;
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            ops += line.split("\"(put|del)\":", -1).length - 1;
        }
        return ops;
    }
}
