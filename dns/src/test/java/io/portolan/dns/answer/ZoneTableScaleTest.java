package io.portolan.dns.answer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.portolan.dns.testing.Snapshots;
import io.portolan.proto.ClusterSnapshot;
import java.util.List;
import org.junit.jupiter.api.Test;

class ZoneTableScaleTest {
    @Test
    void build_tenThousandServicesOfTenInstances_withinSeconds() {
        Snapshots s = Snapshots.builder();
        for (int i = 0; i < 10_000; i++) {
            String name = "svc" + i;
            if (i % 2 == 0) {
                s.vip(name, "10.96." + (i / 250) + "." + (i % 250 + 1), "http:80/tcp");
            } else {
                s.dnsrr(name, "http:80/tcp");
            }
            for (int k = 0; k < 10; k++) {
                int n = i * 10 + k;
                s.instance(name, name + "-" + k, "10." + (100 + n / 65536) + "." + (n / 256 % 256) + "." + (n % 256), "http:8080/tcp");
            }
        }
        ClusterSnapshot snap = s.build(1);
        ZoneTable.build(snap, "portolan.internal.", 5, List.of()); // warm-up
        long start = System.nanoTime();
        ZoneTable t = ZoneTable.build(snap, "portolan.internal.", 5, List.of());
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("ZoneTable: %d names from 10,000 services x 10 instances in %d ms%n", t.nameCount(), ms);
        assertTrue(ms < 10_000, "took " + ms + " ms");
        // one instance more in one service: only that service is compiled again
        ClusterSnapshot next = s.instance("svc7", "svc7-new", "10.200.0.1", "http:8080/tcp").build(2);
        start = System.nanoTime();
        ZoneTable u = ZoneTable.build(next, "portolan.internal.", 5, List.of(), t);
        long updateMs = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("ZoneTable: one change rebuilt in %d ms%n", updateMs);
        assertTrue(updateMs < ms, "incremental " + updateMs + " ms, full " + ms + " ms");
        assertTrue(u.nameCount() == t.nameCount() + 2, "the new instance's name and its PTR");
    }
}
