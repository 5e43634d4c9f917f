package io.portolan.proto;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * JSON for stored values and the registration protocol. Every stored value carries
 * {@code "schema": 1}; fields this version does not know are kept in {@link Extras} and written
 * back unchanged. Decoding errors are {@link ValidationException}s naming the field and value.
 */
public final class JsonCodec {
    public static final int SCHEMA = 1;

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonFactory FACTORY = MAPPER.getFactory();
    private static final Set<String> SERVICE_FIELDS = Set.of("schema", "name", "mode", "ports", "vip", "scheduler", "published");
    private static final Set<String> INSTANCE_FIELDS = Set.of("schema", "id", "service", "node", "address", "ports", "weight",
            "health", "reason", "metadata", "registered", "check");
    private static final Set<String> CHECK_FIELDS = Set.of("kind", "path", "interval", "timeout", "rise", "fall", "startPeriod");

    private static final Set<String> NODE_FIELDS = Set.of("schema", "name", "address");

    private JsonCodec() {
    }

    // ---- Node -----------------------------------------------------------------------------

    public static byte[] encode(Node n) {
        return write(g -> writeNode(g, n, true));
    }

    public static Node decodeNode(byte[] json) {
        return node(object(json));
    }

    static Node node(ObjectNode o) {
        schema(o);
        return new Node(Validate.id("name", text(o, "name", true)), Validate.unicast("address", text(o, "address", true)),
                extras(o, NODE_FIELDS));
    }

    private static void writeNode(JsonGenerator g, Node n, boolean withSchema) throws IOException {
        g.writeStartObject();
        if (withSchema) {
            g.writeNumberField("schema", SCHEMA);
        }
        g.writeStringField("name", n.name());
        g.writeStringField("address", n.address().getHostAddress());
        writeExtras(g, n.extras());
        g.writeEndObject();
    }

    // ---- Service --------------------------------------------------------------------------

    public static byte[] encode(Service s) {
        return write(g -> writeService(g, s, true));
    }

    public static Service decodeService(byte[] json) {
        return service(object(json));
    }

    static Service service(ObjectNode o) {
        schema(o);
        String name = text(o, "name", true);
        Mode mode = Mode.parse("mode", text(o, "mode", true));
        List<Port> ports = ports(o.get("ports"));
        String vipText = text(o, "vip", false);
        InetAddress vip = vipText == null ? null : Validate.unicast("vip", vipText);
        String scheduler = text(o, "scheduler", false);
        List<PublishedPort> published = published(o.get("published"));
        return new Service(name, mode, ports, vip, scheduler, published, extras(o, SERVICE_FIELDS));
    }

    private static void writeService(JsonGenerator g, Service s, boolean withSchema) throws IOException {
        g.writeStartObject();
        if (withSchema) {
            g.writeNumberField("schema", SCHEMA);
        }
        g.writeStringField("name", s.name());
        g.writeStringField("mode", s.mode().lower());
        writePorts(g, s.ports());
        if (s.vip() != null) {
            g.writeStringField("vip", s.vip().getHostAddress());
        }
        g.writeStringField("scheduler", s.scheduler());
        writePublished(g, s.publishedPorts());
        writeExtras(g, s.extras());
        g.writeEndObject();
    }

    // ---- Instance -------------------------------------------------------------------------

    public static byte[] encode(Instance i) {
        return write(g -> writeInstance(g, i, true));
    }

    public static Instance decodeInstance(byte[] json) {
        return instance(object(json));
    }

    static Instance instance(ObjectNode o) {
        schema(o);
        String id = text(o, "id", true);
        // Names repeated across instances (the service, the node, a port's name) are interned: one
        // String per distinct name however many instances carry it.
        String service = intern(text(o, "service", true));
        String node = intern(text(o, "node", true));
        InetAddress address = Validate.unicast("address", text(o, "address", true));
        List<Port> ports = ports(o.get("ports"));
        int weight = o.has("weight") ? Validate.weight("weight", integer(o, "weight")) : Validate.DEFAULT_WEIGHT;
        Health health = Health.parse("health", text(o, "health", false));
        Map<String, String> metadata = stringMap(o.get("metadata"));
        Instant registered = Instant.EPOCH;
        String reg = text(o, "registered", false);
        if (reg != null) {
            try {
                registered = Instant.parse(reg);
            } catch (DateTimeParseException e) {
                throw new ValidationException("registered", reg, "expected an ISO-8601 instant, e.g. 2026-01-01T00:00:00Z");
            }
        }
        return new Instance(id, service, node, address, ports, weight, health, metadata, registered, extras(o, INSTANCE_FIELDS),
                check(o.get("check")), text(o, "reason", false));
    }

    private static void writeInstance(JsonGenerator g, Instance i, boolean withSchema) throws IOException {
        g.writeStartObject();
        if (withSchema) {
            g.writeNumberField("schema", SCHEMA);
        }
        g.writeStringField("id", i.id());
        g.writeStringField("service", i.service());
        g.writeStringField("node", i.node());
        g.writeStringField("address", i.address().getHostAddress());
        writePorts(g, i.ports());
        g.writeNumberField("weight", i.weight());
        g.writeStringField("health", i.health().lower());
        if (i.healthReason() != null) {
            g.writeStringField("reason", i.healthReason());
        }
        writeCheck(g, i.check());
        if (!i.metadata().isEmpty()) {
            g.writeObjectFieldStart("metadata");
            for (Map.Entry<String, String> e : new java.util.TreeMap<>(i.metadata()).entrySet()) {
                g.writeStringField(e.getKey(), e.getValue());
            }
            g.writeEndObject();
        }
        g.writeStringField("registered", i.registeredAt().toString());
        writeExtras(g, i.extras());
        g.writeEndObject();
    }

    // ---- Registration (HTTP API body) -----------------------------------------------------

    public static byte[] encode(Registration r) {
        return write(g -> {
            g.writeStartObject();
            g.writeStringField("service", r.service());
            if (r.id() != null) {
                g.writeStringField("id", r.id());
            }
            if (r.node() != null) {
                g.writeStringField("node", r.node());
            }
            if (r.address() != null) {
                g.writeStringField("address", r.address().getHostAddress());
            }
            writePorts(g, r.ports());
            if (!r.hostPorts().isEmpty()) {
                g.writeArrayFieldStart("hostPorts");
                for (Map.Entry<String, Integer> h : r.hostPorts().entrySet()) {
                    g.writeStartObject();
                    g.writeStringField("name", h.getKey());
                    g.writeNumberField("port", h.getValue());
                    g.writeEndObject();
                }
                g.writeEndArray();
            }
            g.writeStringField("mode", r.mode().lower());
            g.writeNumberField("weight", r.weight());
            g.writeNumberField("ttl", r.ttlSeconds());
            if (r.scheduler() != null) {
                g.writeStringField("scheduler", r.scheduler());
            }
            writePublished(g, r.publishedPorts());
            writeCheck(g, r.check());
            if (!r.metadata().isEmpty()) {
                g.writeObjectFieldStart("metadata");
                for (Map.Entry<String, String> e : r.metadata().entrySet()) {
                    g.writeStringField(e.getKey(), e.getValue());
                }
                g.writeEndObject();
            }
            g.writeEndObject();
        });
    }

    public static Registration decodeRegistration(byte[] json) {
        ObjectNode o = object(json);
        for (Iterator<String> it = o.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!Set.of("service", "id", "node", "address", "ports", "hostPorts", "mode", "weight", "ttl", "metadata", "scheduler",
                    "published", "check").contains(f)) {
                throw new ValidationException("field", f, "unknown registration field");
            }
        }
        String mode = text(o, "mode", false);
        String address = text(o, "address", false);
        return new Registration(text(o, "service", true), text(o, "id", false), text(o, "node", false),
                address == null ? null : Validate.unicast("address", address), ports(o.get("ports")),
                mode == null ? Mode.VIP : Mode.parse("mode", mode),
                o.has("weight") ? Validate.weight("weight", integer(o, "weight")) : Validate.DEFAULT_WEIGHT,
                o.has("ttl") ? Validate.ttl("ttl", integer(o, "ttl")) : Validate.DEFAULT_TTL,
                stringMap(o.get("metadata")), text(o, "scheduler", false), published(o.get("published")), hostPorts(o.get("hostPorts")),
                check(o.get("check")));
    }

    /**
     * {@code {"kind":"http","path":"/healthz","interval":"5s","timeout":"2s","rise":1,"fall":3,"startPeriod":"0"}}:
     * durations in the value grammar; everything but {@code kind} (and an http check's path) has its default.
     */
    private static Check check(JsonNode c) {
        if (c == null || c.isNull()) {
            return null;
        }
        if (!c.isObject()) {
            throw new ValidationException("check", c.toString(), "expected an object such as {\"kind\":\"tcp\"}");
        }
        for (Iterator<String> it = c.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!CHECK_FIELDS.contains(f)) {
                throw new ValidationException("check", f, "unknown check field; known: " + new java.util.TreeSet<>(CHECK_FIELDS));
            }
        }
        String kind = text(c, "kind", true);
        String spec = kind.equals("http") ? "http:" + text(c, "path", true) : kind;
        Check base = Check.parse("check", spec);
        return base.withTimings(duration(c, "interval", Check.DEFAULT_INTERVAL), duration(c, "timeout", Check.DEFAULT_TIMEOUT),
                c.has("rise") ? (int) integer(c, "rise") : Check.DEFAULT_RISE, c.has("fall") ? (int) integer(c, "fall") : Check.DEFAULT_FALL,
                duration(c, "startPeriod", Check.DEFAULT_START_PERIOD));
    }

    private static java.time.Duration duration(JsonNode o, String field, java.time.Duration dflt) {
        String v = text(o, field, false);
        return v == null ? dflt : Values.duration("check." + field, v, java.time.Duration.ZERO, java.time.Duration.ofDays(1));
    }

    private static void writeCheck(JsonGenerator g, Check c) throws IOException {
        if (c == null) {
            return;
        }
        g.writeObjectFieldStart("check");
        g.writeStringField("kind", c.kind().lower());
        if (c.path() != null) {
            g.writeStringField("path", c.path());
        }
        g.writeStringField("interval", Values.text(c.interval()));
        g.writeStringField("timeout", Values.text(c.timeout()));
        g.writeNumberField("rise", c.rise());
        g.writeNumberField("fall", c.fall());
        g.writeStringField("startPeriod", Values.text(c.startPeriod()));
        g.writeEndObject();
    }

    /** {@code [{"name": "http", "port": 32768}, ...]}: a port's name and the node's port mapped to it. */
    private static Map<String, Integer> hostPorts(JsonNode arr) {
        Map<String, Integer> out = new java.util.LinkedHashMap<>();
        if (arr == null || arr.isNull()) {
            return out;
        }
        if (!arr.isArray()) {
            throw new ValidationException("hostPorts", arr.toString(), "expected an array of {\"name\", \"port\"}");
        }
        for (JsonNode h : arr) {
            if (!h.isObject() || text(h, "name", true).isEmpty()) {
                throw new ValidationException("hostPorts", h.toString(), "expected {\"name\": PORT_NAME, \"port\": HOST_PORT}");
            }
            if (out.put(h.get("name").textValue(), Validate.port("hostPorts", integer(h, "port"))) != null) {
                throw new ValidationException("hostPorts", h.toString(), "port '" + h.get("name").textValue() + "' is mapped twice");
            }
        }
        return out;
    }

    // ---- Snapshot (admin API, `portolan services --json`) ----------------------------------

    public static byte[] encode(ClusterSnapshot s) {
        return write(g -> {
            g.writeStartObject();
            g.writeNumberField("schema", SCHEMA);
            g.writeNumberField("revision", s.revision());
            g.writeArrayFieldStart("services");
            for (Service svc : s.services().values()) {
                writeService(g, svc, false);
            }
            g.writeEndArray();
            g.writeArrayFieldStart("nodes");
            for (Node n : s.nodes().values()) {
                writeNode(g, n, false);
            }
            g.writeEndArray();
            g.writeArrayFieldStart("instances");
            for (List<Instance> list : s.instancesByService().values()) {
                for (Instance i : list) {
                    writeInstance(g, i, false);
                }
            }
            g.writeEndArray();
            g.writeEndObject();
        });
    }

    public static ClusterSnapshot decodeSnapshot(byte[] json) {
        ObjectNode o = object(json);
        long revision = o.path("revision").asLong();
        Map<String, Service> services = new LinkedHashMap<>();
        for (JsonNode n : o.path("services")) {
            ObjectNode so = ((ObjectNode) n).deepCopy();
            so.put("schema", SCHEMA);
            Service s = service(so);
            services.put(s.name(), s);
        }
        Map<String, List<Instance>> instances = new LinkedHashMap<>();
        for (JsonNode n : o.path("instances")) {
            ObjectNode io = ((ObjectNode) n).deepCopy();
            io.put("schema", SCHEMA);
            Instance i = instance(io);
            instances.computeIfAbsent(i.service(), k -> new ArrayList<>()).add(i);
        }
        Map<String, Node> nodes = new LinkedHashMap<>();
        for (JsonNode n : o.path("nodes")) {
            ObjectNode no = ((ObjectNode) n).deepCopy();
            no.put("schema", SCHEMA);
            Node node = node(no);
            nodes.put(node.name(), node);
        }
        return ClusterSnapshot.next(null, revision, services, instances, null, nodes);
    }

    // ---- helpers --------------------------------------------------------------------------

    private interface Writer {
        void write(JsonGenerator g) throws IOException;
    }

    private static byte[] write(Writer w) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            w.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static ObjectNode object(byte[] json) {
        if (json == null || json.length == 0) {
            throw new ValidationException("value", "", "empty; expected a JSON object");
        }
        JsonNode n;
        try {
            n = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new ValidationException("value", new String(json, 0, Math.min(json.length, 60), java.nio.charset.StandardCharsets.UTF_8),
                    "not JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (n == null || !n.isObject()) {
            throw new ValidationException("value", n == null ? "" : n.toString(), "expected a JSON object");
        }
        return (ObjectNode) n;
    }

    private static void schema(ObjectNode o) {
        JsonNode v = o.get("schema");
        if (v == null || !v.isIntegralNumber() || v.asLong() < 1) {
            throw new ValidationException("schema", v == null ? null : v.toString(), "expected a schema version (1)");
        }
    }

    private static String text(JsonNode o, String field, boolean required) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            if (required) {
                throw new ValidationException(field, null, "required");
            }
            return null;
        }
        if (!v.isTextual()) {
            throw new ValidationException(field, v.toString(), "expected a string");
        }
        return v.textValue();
    }

    private static String intern(String s) {
        return s == null ? null : s.intern();
    }

    private static long integer(JsonNode o, String field) {
        JsonNode v = o.get(field);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new ValidationException(field, v == null ? null : v.toString(), "expected an integer");
        }
        return v.longValue();
    }

    private static List<Port> ports(JsonNode arr) {
        if (arr == null || arr.isNull()) {
            return List.of();
        }
        if (!arr.isArray()) {
            throw new ValidationException("ports", arr.toString(), "expected an array");
        }
        List<Port> out = new ArrayList<>(arr.size());
        for (JsonNode p : arr) {
            if (!p.isObject()) {
                throw new ValidationException("ports", p.toString(), "expected an object");
            }
            String name = text(p, "name", false);
            out.add(new Port(name == null ? "" : intern(Validate.portName("ports.name", name)),
                    Validate.port("ports.port", integer(p, "port")),
                    Protocol.parse("ports.protocol", text(p, "protocol", false))));
        }
        return internPorts(out);
    }

    /**
     * Port lists are few and repeated by every instance of a service (100,000 instances, a handful
     * of lists): each distinct list is kept once. Bounded: past {@link #PORT_LISTS} distinct lists
     * (registrants choosing their ports freely), a list is no longer shared, never refused.
     */
    private static final int PORT_LISTS = 4096;
    private static final java.util.concurrent.ConcurrentHashMap<List<Port>, List<Port>> PORTS = new java.util.concurrent.ConcurrentHashMap<>();

    static List<Port> internPorts(List<Port> ports) {
        List<Port> frozen = List.copyOf(ports);
        List<Port> known = PORTS.get(frozen);
        if (known != null) {
            return known;
        }
        if (PORTS.size() >= PORT_LISTS) {
            return frozen;
        }
        known = PORTS.putIfAbsent(frozen, frozen);
        return known != null ? known : frozen;
    }

    private static void writePorts(JsonGenerator g, List<Port> ports) throws IOException {
        g.writeArrayFieldStart("ports");
        for (Port p : ports) {
            g.writeStartObject();
            if (!p.name().isEmpty()) {
                g.writeStringField("name", p.name());
            }
            g.writeNumberField("port", p.number());
            g.writeStringField("protocol", p.protocol().lower());
            g.writeEndObject();
        }
        g.writeEndArray();
    }

    private static List<PublishedPort> published(JsonNode pub) {
        List<PublishedPort> published = new ArrayList<>();
        if (pub != null && !pub.isNull()) {
            if (!pub.isArray()) {
                throw new ValidationException("published", pub.toString(), "expected an array");
            }
            for (JsonNode p : pub) {
                if (!p.isObject()) {
                    throw new ValidationException("published", p.toString(), "expected an object");
                }
                published.add(new PublishedPort(Validate.port("published.published", integer(p, "published")),
                        Validate.port("published.target", integer(p, "target")),
                        Protocol.parse("published.protocol", text(p, "protocol", false))));
            }
        }
        return published;
    }

    private static void writePublished(JsonGenerator g, List<PublishedPort> published) throws IOException {
        if (published.isEmpty()) {
            return;
        }
        g.writeArrayFieldStart("published");
        for (PublishedPort p : published) {
            g.writeStartObject();
            g.writeNumberField("published", p.published());
            g.writeNumberField("target", p.target());
            g.writeStringField("protocol", p.protocol().lower());
            g.writeEndObject();
        }
        g.writeEndArray();
    }

    private static Map<String, String> stringMap(JsonNode n) {
        if (n == null || n.isNull()) {
            return Map.of();
        }
        if (!n.isObject()) {
            throw new ValidationException("metadata", n.toString(), "expected an object of strings");
        }
        Map<String, String> m = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw new ValidationException("metadata." + e.getKey(), e.getValue().toString(), "expected a string");
            }
            m.put(e.getKey(), e.getValue().textValue());
        }
        return m;
    }

    private static Extras extras(ObjectNode o, Set<String> known) {
        Map<String, String> raw = null;
        for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!known.contains(e.getKey())) {
                if (raw == null) {
                    raw = new LinkedHashMap<>();
                }
                raw.put(e.getKey(), e.getValue().toString());
            }
        }
        return raw == null ? Extras.NONE : new Extras(raw);
    }

    private static void writeExtras(JsonGenerator g, Extras extras) throws IOException {
        for (Map.Entry<String, String> e : extras.rawFields().entrySet()) {
            g.writeFieldName(e.getKey());
            g.writeRawValue(e.getValue());
        }
    }
}
