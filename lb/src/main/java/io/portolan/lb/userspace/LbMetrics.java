package io.portolan.lb.userspace;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The meters, all under {@code portolan.lb.}, tagged with service, port ({@code 80/tcp}) and, per
 * instance, instance. Instance meters are removed when the instance has drained.
 */
final class LbMetrics {
    private final MeterRegistry registry;

    LbMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    static Tags tags(String service, String port) {
        return Tags.of("service", service, "port", port);
    }

    List<Meter> register(Backend b, Tags serviceTags) {
        Tags t = serviceTags.and("instance", b.instanceId);
        List<Meter> m = new ArrayList<>();
        m.add(Gauge.builder("portolan.lb.connections.active", b.active, AtomicInteger::get).tags(t)
                .description("open connections (TCP) or flows (UDP) to the instance").register(registry));
        m.add(FunctionCounter.builder("portolan.lb.connections", b.total, x -> x.sum()).tags(t)
                .description("connections (TCP) or flows (UDP) established to the instance").register(registry));
        m.add(FunctionCounter.builder("portolan.lb.bytes", b.bytesToInstance, x -> x.sum()).tags(t.and("direction", "to_instance"))
                .baseUnit("bytes").description("bytes relayed (not counted in splice mode)").register(registry));
        m.add(FunctionCounter.builder("portolan.lb.bytes", b.bytesFromInstance, x -> x.sum()).tags(t.and("direction", "from_instance"))
                .baseUnit("bytes").description("bytes relayed (not counted in splice mode)").register(registry));
        m.add(FunctionCounter.builder("portolan.lb.connect.errors", b.connectErrors, x -> x.sum()).tags(t)
                .description("failed upstream connects").register(registry));
        m.add(FunctionCounter.builder("portolan.lb.ejections", b.ejections, x -> x.sum()).tags(t)
                .description("times the instance was ejected as an outlier").register(registry));
        return m;
    }

    Counter refused(Tags serviceTags, String reason) {
        return Counter.builder("portolan.lb.refused").tags(serviceTags.and("reason", reason))
                .description("client connections or flows refused: max_connections, no_instance, connect_failed")
                .register(registry);
    }

    Meter serviceActive(Tags serviceTags, AtomicInteger active) {
        return Gauge.builder("portolan.lb.service.connections.active", active, AtomicInteger::get).tags(serviceTags)
                .description("open connections or flows of the service port").register(registry);
    }

    void remove(List<Meter> meters) {
        for (Meter m : meters) {
            registry.remove(m);
        }
    }
}
