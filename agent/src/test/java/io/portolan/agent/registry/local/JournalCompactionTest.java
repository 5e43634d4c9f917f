package io.portolan.agent.registry.local;

import io.portolan.agent.registry.Registry;
import io.portolan.agent.testing.Await;
import io.portolan.proto.Cidr;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Service;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The store's files directly: heartbeats write nothing; compaction bounds the journal and keeps every key. */
class JournalCompactionTest {
    static final KeyLayout LAYOUT = new KeyLayout("/portolan/");
    static final Cidr CIDR = Cidr.parse("vip-cidr", "10.99.0.0/16");

    static Instance instance(int n) {
        return JsonCodec.decodeInstance(("{\"schema\":1,\"id\":\"i" + n + "\",\"service\":\"s" + (n % 10) + "\",\"node\":\"n1\",\"address\":\"10.1."
                + (n / 250) + "." + (n % 250 + 1) + "\",\"ports\":[{\"port\":80}]}").getBytes(StandardCharsets.UTF_8));
    }

    static Service service(int n) {
        return JsonCodec.decodeService(("{\"schema\":1,\"name\":\"s" + n + "\",\"mode\":\"dnsrr\",\"ports\":[{\"port\":80}]}").getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void heartbeatsWriteNothing_compactionBoundsTheJournal_reopenKeepsEveryKey() throws Exception {
        Path dir = Files.createTempDirectory("journal-compaction");
        Path journal = dir.resolve(LocalRegistry.JOURNAL);
        List<Registry.Lease> leases = new ArrayList<>();
        try (LocalRegistry r = new LocalRegistry(dir, LAYOUT, CIDR, 100)) {
            for (int s = 0; s < 10; s++) {
                r.ensureService(service(s));
            }
            for (int n = 0; n < 2_000; n++) {
                r.register(instance(n), 60, false).close();
                leases.add(r.register(instance(n), 60, false)); // registered again: a change that adds no key
            }
            Await.until("compactions", 10_000, () -> r.compactions() > 0);
            assertTrue(Files.exists(dir.resolve(LocalRegistry.FILE)));
            long lines = Files.readAllLines(journal).size();
            // records <= max(floor, keys) before a rotation: 2,021 keys at most, plus what came during a background compaction
            assertTrue(lines <= 2 * 2_021, "journal lines after compactions: " + lines);

            long size = Files.size(journal);
            for (int round = 0; round < 3; round++) {
                leases.forEach(Registry.Lease::keepAliveOnce);
            }
            assertEquals(size, Files.size(journal), "lease refreshes write nothing");

            assertTrue(r.deregister("s3", "i3"));
            r.deleteService("s4");
        }
        try (LocalRegistry r = new LocalRegistry(dir, LAYOUT, CIDR, 100)) {
            java.util.Map<String, byte[]> state = r.keys();
            for (int n = 0; n < 2_000; n++) {
                boolean gone = n == 3 || n % 10 == 4;
                assertEquals(!gone, state.containsKey(LAYOUT.instanceKey("s" + (n % 10), "i" + n)), "i" + n);
            }
            assertFalse(state.containsKey(LAYOUT.serviceKey("s4")));
            assertTrue(state.containsKey(LAYOUT.serviceKey("s5")));
            assertFalse(Files.exists(dir.resolve(LocalRegistry.ROTATED)));
            assertEquals(0, Files.size(journal), "the load folded the journal into a fresh snapshot");
        }
    }
}
