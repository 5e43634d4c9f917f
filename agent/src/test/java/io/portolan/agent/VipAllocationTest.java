package io.portolan.agent;

import io.etcd.jetcd.Client;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.agent.registry.etcd.EtcdRegistry;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.Cidr;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** VIPs from one CIDR, allocated by etcd transactions from several clients at once. */
class VipAllocationTest {
    static EtcdServer etcd;

    @BeforeAll
    static void up() throws Exception {
        etcd = new EtcdServer();
    }

    @AfterAll
    static void down() throws Exception {
        etcd.close();
    }

    static Service wanted(String name) {
        return new Service(name, Mode.VIP, List.of(new Port("http", 80, Protocol.TCP)), null, null, null, null);
    }

    static EtcdRegistry registry(String prefix, String cidr) {
        return new EtcdRegistry(List.of(etcd.endpoint()), new KeyLayout(prefix), Cidr.parse("cidr", cidr), Duration.ofSeconds(5),
                new SimpleMeterRegistry());
    }

    @Test
    void thousandServicesFromFourClients_distinctVipsInsideCidr() throws Exception {
        Cidr cidr = Cidr.parse("cidr", "10.98.0.0/21"); // 2046 addresses for 1000 services: probing collides often
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 1000; i++) {
            names.add("svc-" + i);
        }
        List<EtcdRegistry> clients = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        Map<String, Set<InetAddress>> seen = new ConcurrentHashMap<>();
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int c = 0; c < 4; c++) {
                EtcdRegistry r = registry("/vipt/", cidr.toString());
                clients.add(r);
                List<String> mine = new ArrayList<>(names);
                Collections.shuffle(mine, new Random(c));
                futures.add(pool.submit(() -> {
                    for (String n : mine) {
                        Service s = r.ensureService(wanted(n));
                        seen.computeIfAbsent(n, k -> ConcurrentHashMap.newKeySet()).add(s.vip());
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(180, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        Set<InetAddress> all = new HashSet<>();
        for (Map.Entry<String, Set<InetAddress>> e : seen.entrySet()) {
            assertEquals(1, e.getValue().size(), "every client got the same VIP for " + e.getKey() + ": " + e.getValue());
            InetAddress vip = e.getValue().iterator().next();
            assertTrue(cidr.contains(vip), vip + " outside " + cidr);
            all.add(vip);
        }
        assertEquals(1000, seen.size());
        assertEquals(1000, all.size(), "no VIP handed to two services");
        try (Client c = EtcdClients.client(etcd.endpoint())) {
            Map<String, String> vips = EtcdClients.list(c, "/vipt/vips/").values();
            assertEquals(1000, vips.size());
            assertEquals(new HashSet<>(names), new HashSet<>(vips.values()));
        }

        // A deleted service frees its VIP (and its instances).
        EtcdRegistry r = clients.get(0);
        InetAddress freed = seen.get("svc-7").iterator().next();
        assertTrue(r.deleteService("svc-7"));
        assertFalse(r.deleteService("svc-7"));
        try (Client c = EtcdClients.client(etcd.endpoint())) {
            assertFalse(EtcdClients.list(c, "/vipt/vips/").values().containsKey("/vipt/vips/" + freed.getHostAddress()));
        }
        clients.forEach(EtcdRegistry::close);
    }

    @Test
    void staleVipKey_reclaimed_modeConflict_rejected() throws Exception {
        try (EtcdRegistry r = registry("/stale/", "10.97.0.0/30"); Client c = EtcdClients.client(etcd.endpoint())) {
            // A /30 has two usable addresses. Pin both to services, then delete one service's key by hand
            // (as an operator might): its VIP key is stale and must be taken over, never duplicated.
            Service a = r.ensureService(wanted("a"));
            Service b = r.ensureService(wanted("b"));
            assertFalse(a.vip().equals(b.vip()));
            ValidationException full = assertThrows(ValidationException.class, () -> r.ensureService(wanted("c")));
            assertTrue(full.getMessage().contains("10.97.0.0/30"), full.getMessage());
            c.getKVClient().delete(EtcdClients.bs("/stale/services/a")).get(5, TimeUnit.SECONDS);
            Service d = r.ensureService(wanted("d"));
            assertEquals(a.vip(), d.vip());

            ValidationException conflict = assertThrows(ValidationException.class,
                    () -> r.ensureService(new Service("b", Mode.DNSRR, List.of(), null, null, null, null)));
            assertTrue(conflict.getMessage().contains("vip mode"), conflict.getMessage());
        }
    }
}
