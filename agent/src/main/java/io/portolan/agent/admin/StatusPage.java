package io.portolan.agent.admin;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.search.Search;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.lb.DataPlane;
import io.portolan.lb.DataPlaneStatus;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.Port;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.GZIPOutputStream;

/**
 * The status page on the admin listener, and the two JSON documents it polls:
 * <pre>
 *   GET /                     the page (HTML, CSS and JS in one file from the jar)
 *   GET /v1/status/services   every service and instance, compact; ETag per snapshot, 304 when unchanged
 *   GET /v1/status            the agent's own state: registry, data plane (with its traffic), DNS, health
 * </pre>
 * The services document is serialized once per snapshot and kept (plain and gzipped) until the
 * next snapshot replaces it, so polling an unchanged agent costs a compare of two strings.
 */
final class StatusPage {
    private static final JsonFactory JSON = new JsonFactory();
    private static final String PAGE_RESOURCE = "status.html";

    /** The services document of one snapshot, serialized once. */
    record Document(ClusterSnapshot snapshot, String etag, byte[] plain, byte[] gzipped) {
    }

    private final Registry registry;
    private final RegistryState state;
    private final SnapshotPublisher publisher;
    private final MeterRegistry meters;
    private final String node;
    private final byte[] page;
    /** Tells this process's ETags from another run's at the same revision. */
    private final String boot = Long.toString(System.currentTimeMillis(), 36);
    private final AtomicLong documents = new AtomicLong();
    private final Object building = new Object();
    private volatile Document document;
    private volatile DataPlane plane;

    StatusPage(Registry registry, RegistryState state, SnapshotPublisher publisher, MeterRegistry meters, String node) {
        this.registry = registry;
        this.state = state;
        this.publisher = publisher;
        this.meters = meters;
        this.node = node;
        try (InputStream in = StatusPage.class.getResourceAsStream(PAGE_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the status page " + PAGE_RESOURCE + " is missing from the jar");
            }
            this.page = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void dataPlane(DataPlane plane) {
        this.plane = plane;
    }

    byte[] page() {
        return page;
    }

    /** How many times the services document was serialized (once per snapshot asked for). */
    long documentsBuilt() {
        return documents.get();
    }

    /** The services document of the current snapshot: the kept one while the snapshot is the same. */
    Document services() {
        ClusterSnapshot s = publisher.current();
        Document d = document;
        if (d != null && d.snapshot == s) {
            return d;
        }
        synchronized (building) { // one serialization per snapshot however many pages poll at once
            d = document;
            if (d != null && d.snapshot == s) {
                return d;
            }
            byte[] plain = servicesJson(s);
            d = new Document(s, "\"" + boot + "-" + s.revision() + "-" + documents.incrementAndGet() + "\"", plain, gzip(plain));
            document = d;
            return d;
        }
    }

    /**
     * {@code {"revision":R,"services":[[name, mode, vip, ports, published, [[id, node, address, weight, health, reason, ports], ...]], ...]}}:
     * arrays, not objects, so 100,000 instances stay a few megabytes (and a fraction of that gzipped).
     * Instances of a service not (yet) defined are listed under a service of mode "".
     */
    static byte[] servicesJson(ClusterSnapshot s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(1024 + s.instanceCount() * 64);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeNumberField("revision", s.revision());
            g.writeArrayFieldStart("services");
            TreeSet<String> names = new TreeSet<>(s.services().keySet());
            names.addAll(s.instancesByService().keySet());
            for (String name : names) {
                Service svc = s.services().get(name);
                g.writeStartArray();
                g.writeString(name);
                g.writeString(svc == null ? "" : svc.mode().lower());
                g.writeString(svc == null || svc.vip() == null ? "" : svc.vip().getHostAddress());
                g.writeString(svc == null ? "" : ports(svc.ports()));
                g.writeString(svc == null ? "" : published(svc.publishedPorts()));
                g.writeStartArray();
                for (Instance i : s.instances(name)) {
                    g.writeStartArray();
                    g.writeString(i.id());
                    g.writeString(i.node());
                    g.writeString(i.address().getHostAddress());
                    g.writeNumber(i.weight());
                    g.writeString(i.health().lower());
                    g.writeString(i.healthReason() == null ? "" : i.healthReason());
                    g.writeString(ports(i.ports()));
                    g.writeEndArray();
                }
                g.writeEndArray();
                g.writeEndArray();
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static String ports(List<Port> ports) {
        StringBuilder b = new StringBuilder();
        for (Port p : ports) {
            if (b.length() > 0) {
                b.append(' ');
            }
            b.append(p);
        }
        return b.toString();
    }

    private static String published(List<PublishedPort> ports) {
        StringBuilder b = new StringBuilder();
        for (PublishedPort p : ports) {
            if (b.length() > 0) {
                b.append(' ');
            }
            b.append(p);
        }
        return b.toString();
    }

    private static byte[] gzip(byte[] plain) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(plain.length / 6 + 64);
        try (GZIPOutputStream z = new GZIPOutputStream(out, 64 * 1024)) {
            z.write(plain);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** The agent's own state, built per request from what the registry, the plane and the meters already keep. */
    byte[] statusJson() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(4096);
        ClusterSnapshot s = publisher.current();
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("node", node);
            g.writeNumberField("now", System.currentTimeMillis());

            g.writeObjectFieldStart("registry");
            g.writeStringField("kind", registry.kind());
            g.writeArrayFieldStart("endpoints");
            for (String e : registry.endpoints()) {
                g.writeString(e);
            }
            g.writeEndArray();
            g.writeBooleanField("connected", registry.connected());
            g.writeBooleanField("loaded", state.loaded());
            g.writeNumberField("revision", state.revision());
            writeTime(g, "lastEvent", state.lastEvent());
            g.writeNumberField("events", count("portolan_registry_events", null, null));
            g.writeNumberField("watchRestarts", count("portolan_etcd_watch_restarts", null, null));
            g.writeNumberField("importWatchRestarts", count("portolan_import_watch_restarts", null, null));
            g.writeNumberField("relists", count("portolan_registry_relists", null, null));
            g.writeNumberField("compactions", count("portolan_etcd_compactions", null, null));
            g.writeNumberField("invalidValues", count("portolan_registry_invalid_values", null, null));
            g.writeEndObject();

            g.writeObjectFieldStart("snapshot");
            g.writeNumberField("revision", s.revision());
            g.writeNumberField("services", s.services().size());
            g.writeNumberField("instances", s.instanceCount());
            g.writeNumberField("panicking", gauge("portolan_services_panicking"));
            g.writeNumberField("checked", gauge("portolan_health_checked_instances"));
            g.writeEndObject();

            writeDataPlane(g, plane);

            g.writeObjectFieldStart("dns");
            boolean dns = meters.find("portolan.dns.queries").counter() != null;
            g.writeBooleanField("enabled", dns);
            g.writeNumberField("queries", count("portolan.dns.queries", null, null));
            g.writeNumberField("nxdomain", count("portolan.dns.queries", "rcode", "NXDOMAIN"));
            g.writeNumberField("servfail", count("portolan.dns.queries", "rcode", "SERVFAIL"));
            g.writeNumberField("forwarded", count("portolan.dns.forwards", "result", "answered"));
            g.writeNumberField("forwardFailed", count("portolan.dns.forwards", "result", "failed"));
            g.writeNumberField("rateLimited", count("portolan.dns.dropped", "reason", "ratelimit"));
            g.writeEndObject();

            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static void writeDataPlane(JsonGenerator g, DataPlane plane) throws IOException {
        g.writeObjectFieldStart("dataplane");
        if (plane == null) {
            g.writeStringField("name", "none");
            g.writeEndObject();
            return;
        }
        DataPlaneStatus p = plane.status();
        g.writeStringField("name", p.name());
        g.writeNumberField("syncs", p.syncs());
        g.writeNumberField("failedSyncs", p.failedSyncs());
        writeTime(g, "lastSync", p.lastSync());
        if (p.lastSyncTook() != null) {
            g.writeNumberField("lastSyncMillis", p.lastSyncTook().toNanos() / 1e6);
        }
        g.writeNumberField("syncedRevision", p.syncedRevision());
        g.writeObjectFieldStart("rejected");
        for (Map.Entry<String, String> e : p.rejected().entrySet()) {
            g.writeStringField(e.getKey(), e.getValue());
        }
        g.writeEndObject();
        g.writeStringField("trafficNote", p.trafficNote());
        // [service, port, instance, active, connections, bytes to, bytes from]
        g.writeArrayFieldStart("traffic");
        for (DataPlaneStatus.Traffic t : p.traffic()) {
            g.writeStartArray();
            g.writeString(t.service());
            g.writeString(t.port());
            g.writeString(t.instance());
            g.writeNumber(t.active());
            g.writeNumber(t.connections());
            g.writeNumber(t.bytesToInstance());
            g.writeNumber(t.bytesFromInstance());
            g.writeEndArray();
        }
        g.writeEndArray();
        g.writeEndObject();
    }

    private static void writeTime(JsonGenerator g, String field, Instant at) throws IOException {
        if (at == null) {
            g.writeNullField(field);
        } else {
            g.writeNumberField(field, at.toEpochMilli());
        }
    }

    /** The sum of the counters named {@code name} (with {@code tag=value} when given); 0 when there are none. */
    private long count(String name, String tag, String value) {
        Search search = meters.find(name);
        if (tag != null) {
            search = search.tag(tag, value);
        }
        double sum = 0;
        for (Counter c : search.counters()) {
            sum += c.count();
        }
        return (long) sum;
    }

    private long gauge(String name) {
        double sum = 0;
        for (Gauge g : meters.find(name).gauges()) {
            sum += g.value();
        }
        return Double.isNaN(sum) ? 0 : (long) sum;
    }
}
