package io.portolan.agent.bench;

import io.etcd.jetcd.Client;
import io.etcd.jetcd.kv.PutResponse;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.agent.registry.etcd.EtcdRegistry;
import io.portolan.agent.testing.EtcdClients;
import io.portolan.agent.testing.EtcdServer;
import io.portolan.proto.Cidr;
import io.portolan.proto.Extras;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;

import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Convergence: the time from an etcd put (as its writer sees the put acknowledged) to the agent
 * publishing a snapshot at that revision, over N sequential changes, with B background services
 * loaded so each snapshot build has real work. Prints p50, p99, max.
 */
public final class ConvergenceBench {
    public static void main(String[] args) throws Exception {
        int changes = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        int background = args.length > 1 ? Integer.parseInt(args[1]) : 1000;
        try (EtcdServer etcd = new EtcdServer(); Client writer = EtcdClients.client(etcd.endpoint())) {
            for (int i = 0; i < background; i++) {
                writer.getKVClient().put(EtcdClients.bs("/portolan/instances/bg/i-" + i), EtcdClients.bs(instance("bg", "i-" + i, i)));
            }
            writer.getKVClient().put(EtcdClients.bs("/portolan/instances/bg/last"), EtcdClients.bs(instance("bg", "last", 0)))
                    .get(60, TimeUnit.SECONDS);
            SnapshotPublisher publisher = new SnapshotPublisher();
            try (RegistryState state = new RegistryState(new KeyLayout("/portolan/"), publisher, new SimpleMeterRegistry());
                 EtcdRegistry registry = new EtcdRegistry(List.of(etcd.endpoint()), new KeyLayout("/portolan/"),
                         Cidr.parse("cidr", "10.99.0.0/16"), Duration.ofSeconds(5), new SimpleMeterRegistry())) {
                registry.start(state);
                while (!state.loaded()) {
                    Thread.sleep(10);
                }
                long[] micros = new long[changes];
                for (int i = 0; i < changes; i++) {
                    byte[] value = instance("conv", "i-" + (i % 50), i);
                    long t0 = System.nanoTime();
                    PutResponse r = writer.getKVClient().put(EtcdClients.bs("/portolan/instances/conv/i-" + (i % 50)),
                            EtcdClients.bs(value)).get(10, TimeUnit.SECONDS);
                    if (!publisher.awaitRevision(r.getHeader().getRevision(), 10_000)) {
                        throw new IllegalStateException("change " + i + " not published within 10 s");
                    }
                    micros[i] = (System.nanoTime() - t0) / 1000;
                }
                Arrays.sort(micros);
                System.out.printf("convergence etcd put -> snapshot published, %d changes, %d background instances:%n", changes, background);
                System.out.printf("  p50 %.2f ms   p99 %.2f ms   max %.2f ms   (includes the put's own round trip)%n",
                        micros[changes / 2] / 1000.0, micros[(int) (changes * 0.99)] / 1000.0, micros[changes - 1] / 1000.0);
            }
        }
    }

    static byte[] instance(String service, String id, int n) throws Exception {
        return JsonCodec.encode(new Instance(id, service, "node-1", InetAddress.getByName("10.1." + (n / 250 % 250) + "." + (n % 250 + 1)),
                List.of(new Port("http", 8080, Protocol.TCP)), 100, Health.HEALTHY, Map.of(), Instant.now(), Extras.NONE));
    }
}
