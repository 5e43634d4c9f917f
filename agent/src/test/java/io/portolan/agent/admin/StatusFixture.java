package io.portolan.agent.admin;

import io.micrometer.prometheus.PrometheusConfig;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.portolan.agent.registry.KvEvent;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.agent.registry.local.LocalRegistry;
import io.portolan.proto.Cidr;
import io.portolan.proto.Extras;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An admin server over a registry state fed with a synthetic listing of {@code services} ×
 * {@code instances}, through the same path a real store's listing takes (keys and JSON values
 * into {@link RegistryState#reset}, a snapshot published from them). Services are {@code svc-N}
 * with VIP 10.96.x.y; every 7th instance is unhealthy with a reason.
 */
final class StatusFixture implements AutoCloseable {
    static final KeyLayout LAYOUT = new KeyLayout("/portolan/");

    final SnapshotPublisher publisher = new SnapshotPublisher();
    final PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    final RegistryState state = new RegistryState(LAYOUT, publisher, meters);
    final LocalRegistry registry;
    final AdminServer admin;
    long revision = 1;

    StatusFixture(int services, int instances) throws Exception {
        registry = new LocalRegistry(Files.createTempDirectory("status-fixture"), LAYOUT, Cidr.parse("vip-cidr", "10.96.0.0/12"));
        Map<String, byte[]> listing = new HashMap<>();
        for (int s = 0; s < services; s++) {
            Service svc = service(s);
            listing.put(LAYOUT.serviceKey(svc.name()), JsonCodec.encode(svc));
            for (int i = 0; i < instances; i++) {
                Instance inst = instance(svc.name(), "i-" + i, s * instances + i);
                listing.put(LAYOUT.instanceKey(svc.name(), inst.id()), JsonCodec.encode(inst));
            }
        }
        state.reset(listing, revision);
        if (!publisher.awaitRevision(revision, 60_000)) {
            throw new IllegalStateException("the listing of " + services + " services was not published within 60 s");
        }
        admin = new AdminServer(new InetSocketAddress("127.0.0.1", 0), List.of(), InetAddress.getLoopbackAddress(), registry, state,
                publisher, meters, "node-a");
    }

    static Service service(int s) throws Exception {
        return new Service("svc-" + s, Mode.VIP, List.of(new Port("http", 80, Protocol.TCP)),
                InetAddress.getByName("10.96." + (s / 250) + "." + (s % 250 + 1)), null,
                s % 100 == 0 ? List.of(new PublishedPort(30000 + s / 100, 80, Protocol.TCP)) : List.of(), Extras.NONE);
    }

    static Instance instance(String service, String id, int n) throws Exception {
        boolean sick = n % 7 == 3;
        return new Instance(id, service, "node-" + (n % 50), InetAddress.getByName("10.1." + (n / 250 % 250) + "." + (n % 250 + 1)),
                List.of(new Port("http", 8080, Protocol.TCP)), 100, sick ? Health.UNHEALTHY : Health.HEALTHY, Map.of(), Instant.EPOCH,
                Extras.NONE, null, sick ? "connect refused" : null);
    }

    /** Puts one instance through the watch path (an event at the next revision) and waits for its snapshot. */
    void put(Instance i) throws Exception {
        revision++;
        state.apply(List.of(new KvEvent(LAYOUT.instanceKey(i.service(), i.id()), JsonCodec.encode(i), revision)), revision);
        if (!publisher.awaitRevision(revision, 30_000)) {
            throw new IllegalStateException("revision " + revision + " not published within 30 s");
        }
    }

    String url(String path) {
        return "http://127.0.0.1:" + admin.address().getPort() + path;
    }

    @Override
    public void close() {
        admin.close();
        state.close();
        registry.close();
        publisher.close();
    }
}
