package io.portolan.agent.admin;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.portolan.agent.registry.Ids;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryFullException;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.RegistryUnavailableException;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.lb.DataPlane;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.Registration;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The agent's HTTP API (loopback by default):
 * <pre>
 *   POST   /v1/instances                       register (JSON body: {@link Registration}) → 201
 *   PUT    /v1/instances/SERVICE/ID/heartbeat   keep it alive → 200, 404 if unknown (register again)
 *   DELETE /v1/instances/SERVICE/ID             deregister → 200, 404
 *   DELETE /v1/services/SERVICE                 delete a service, its instances and VIP → 200, 404
 *   GET    /v1/services                         services with VIP and instance counts
 *   GET    /v1/snapshot                         the current snapshot
 *   GET    /healthz  /readyz  /metrics
 *   GET    /  /v1/status  /v1/status/services    the status page and what it polls ({@link StatusPage})
 * </pre>
 * Errors are {@code {"error": "..."}} with 400 (bad input, naming the value), 403 (not allowed on this
 * listener), 404, 409 (conflict with the stored service), 503 (store unreachable; a heartbeat: the instance
 * is held, but the host lease's renewals fail) or 507 (etcd refuses writes and leases: its quota is full).
 *
 * <p>The registration listeners ({@code --register-listen}, for containers on a bridge) serve only
 * the first three, and an instance registered through them may carry only the request's source
 * address, or this node's advertise address with a host port for every port; it is this node's, and
 * it may be refreshed and deregistered only from the address that registered it. Anything else is
 * 403 naming the value. A registration without an address gets the request's source address, or
 * the advertise address when it maps host ports or came over the admin API's loopback (a host process).
 */
public final class AdminServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);
    private static final int MAX_BODY = 64 * 1024;

    static {
        // The JDK's server leaves Nagle's algorithm on for accepted sockets: on a kept-alive connection
        // each answer then waits for the client's delayed ACK, about 40 ms (heartbeats, scrapes and the
        // Java client all keep connections alive). Read once, when the server classes first load.
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    private static final JsonFactory JSON = new JsonFactory();

    private final HttpServer server;
    private final List<HttpServer> registerServers = new ArrayList<>();
    private final ExecutorService executor;
    private final InetAddress advertise;
    private final Registry registry;
    private final RegistryState state;
    private final SnapshotPublisher publisher;
    private final PrometheusMeterRegistry meters;
    private final String node;
    private final StatusPage status;
    private final BearerToken token;
    /** Instances registered through this agent: their leases, kept alive by heartbeats. */
    private final Map<String, Registry.Lease> leases = new ConcurrentHashMap<>();
    /** Where each of those registrations came from: only that address may refresh or remove it through a registration listener. */
    private final Map<String, InetAddress> registrants = new ConcurrentHashMap<>();

    /** Not allowed on this listener: 403. */
    private static final class Forbidden extends RuntimeException {
        Forbidden(String message) {
            super(message);
        }
    }

    public AdminServer(InetSocketAddress listen, List<InetSocketAddress> registerListen, InetAddress advertise, Registry registry,
                       RegistryState state, SnapshotPublisher publisher, PrometheusMeterRegistry meters, String node) throws IOException {
        this(listen, registerListen, advertise, registry, state, publisher, meters, node, null);
    }

    /**
     * @param adminToken the bearer token every request to the admin listener must carry, except /healthz and
     *                   /readyz ({@code --admin-token-file}), or null for none; the registration listeners take none
     */
    public AdminServer(InetSocketAddress listen, List<InetSocketAddress> registerListen, InetAddress advertise, Registry registry,
                       RegistryState state, SnapshotPublisher publisher, PrometheusMeterRegistry meters, String node,
                       String adminToken) throws IOException {
        this.token = adminToken == null ? null : BearerToken.of(adminToken);
        this.advertise = advertise;
        this.registry = registry;
        this.state = state;
        this.publisher = publisher;
        this.meters = meters;
        this.node = node;
        this.status = new StatusPage(registry, state, publisher, meters, node);
        // what the registry held before a restart (the host lease's instances): heartbeats and the listeners' checks go on
        for (Registry.Lease l : registry.held()) {
            String k = key(l.instance().service(), l.instance().id());
            leases.put(k, l);
            if (l.registrant() != null) {
                registrants.put(k, l.registrant());
            }
        }
        this.server = HttpServer.create(listen, 128);
        this.executor = Executors.newFixedThreadPool(4, r -> {
            Thread t = new Thread(r, "admin-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.createContext("/", ex -> handle(ex, false));
        try {
            for (InetSocketAddress a : registerListen) {
                HttpServer r = HttpServer.create(a, 128);
                r.setExecutor(executor);
                r.createContext("/", ex -> handle(ex, true));
                registerServers.add(r);
            }
        } catch (IOException e) {
            registerServers.forEach(r -> r.stop(0));
            executor.shutdownNow();
            throw new IOException("--register-listen: " + e.getMessage(), e);
        }
        server.start();
        registerServers.forEach(HttpServer::start);
    }

    /** Where the registration listeners are bound, in the order given. */
    public List<InetSocketAddress> registerAddresses() {
        return registerServers.stream().map(HttpServer::getAddress).toList();
    }

    public InetSocketAddress address() {
        return server.getAddress();
    }

    /** Shows {@code plane}'s syncs and traffic on the status page. */
    public void showDataPlane(DataPlane plane) {
        status.dataPlane(plane);
    }

    /** How many times the status page's services document was serialized (once per snapshot polled). */
    long statusDocumentsBuilt() {
        return status.documentsBuilt();
    }

    private void handle(HttpExchange ex, boolean registrationOnly) throws IOException {
        try (ex) {
            String method = ex.getRequestMethod();
            String path = ex.getRequestURI().getRawPath();
            try {
                // The status page itself (GET /) is static and carries no data: a browser loads it without a
                // header, and the page sends the token of its address's #token=... with every request it makes.
                boolean open = BearerToken.OPEN_PATHS.contains(path) || path.equals("/") && "GET".equals(method);
                if (!registrationOnly && token != null && !open && !token.matches(ex.getRequestHeaders().getFirst("Authorization"))) {
                    ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"portolan\"");
                    error(ex, 401, "this agent's admin API wants its token: Authorization: Bearer TOKEN (the CLI: --admin-token-file FILE "
                            + "or $PORTOLAN_AGENT_TOKEN_FILE)");
                    return;
                }
                if (registrationOnly) {
                    routeRegistration(ex, method, path);
                } else {
                    route(ex, method, path);
                }
            } catch (Forbidden e) {
                error(ex, 403, e.getMessage());
            } catch (MethodNotAllowed e) {
                ex.getResponseHeaders().set("Allow", e.allow);
                error(ex, 405, e.getMessage());
            } catch (ValidationException e) {
                error(ex, e.getMessage().contains("exists in") ? 409 : 400, e.getMessage());
            } catch (RegistryUnavailableException e) {
                error(ex, 503, e.getMessage());
            } catch (RegistryFullException e) {
                log.warn("{} {}: {}", method, path, e.getMessage());
                error(ex, 507, e.getMessage());
            } catch (RuntimeException e) {
                log.error("{} {} failed", method, path, e);
                error(ex, 500, "internal error: " + e);
            }
        }
    }

    /** A registration listener: instance register, heartbeat and deregister, nothing else. */
    private void routeRegistration(HttpExchange ex, String method, String path) throws IOException {
        String[] parts = path.split("/");
        boolean instances = parts.length >= 3 && parts[1].equals("v1") && parts[2].equals("instances");
        boolean allowed = instances && (parts.length == 3 && method.equals("POST")
                || parts.length == 6 && parts[5].equals("heartbeat") && method.equals("PUT")
                || parts.length == 5 && method.equals("DELETE"));
        if (!allowed) {
            throw new Forbidden("the registration listener serves only POST /v1/instances, PUT /v1/instances/SERVICE/ID/heartbeat "
                    + "and DELETE /v1/instances/SERVICE/ID, not " + method + " " + path);
        }
        if (parts.length == 3) {
            register(ex, true);
            return;
        }
        String service = Validate.serviceName("service", parts[3]);
        String id = Validate.id("id", parts[4]);
        InetAddress source = ex.getRemoteAddress().getAddress();
        InetAddress registrant = registrants.get(key(service, id));
        if (registrant != null && !registrant.equals(source)) {
            throw new Forbidden("instance " + service + "/" + id + " was registered from " + registrant.getHostAddress()
                    + ", not from " + source.getHostAddress());
        }
        if (registrant == null && parts.length == 5) {
            throw new Forbidden("instance " + service + "/" + id + " was not registered through this agent from "
                    + source.getHostAddress());
        }
        route(ex, method, path);
    }

    private void route(HttpExchange ex, String method, String path) throws IOException {
        String[] parts = path.split("/");
        // parts[0] is "" for a leading slash
        switch (path) {
            case "/healthz" -> {
                send(ex, 200, "text/plain", "ok\n".getBytes(StandardCharsets.UTF_8));
                return;
            }
            case "/readyz" -> {
                boolean loaded = state.loaded();
                boolean ready = loaded && publisher.listenersCaughtUp();
                send(ex, ready ? 200 : 503, "text/plain", (ready ? "ready\n" : loaded ? "waiting for DNS to take the first snapshot\n"
                        : "waiting for the first registry listing\n").getBytes(StandardCharsets.UTF_8));
                return;
            }
            case "/metrics" -> {
                send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", meters.scrape().getBytes(StandardCharsets.UTF_8));
                return;
            }
            case "/" -> {
                requireMethod(method, "GET");
                ex.getResponseHeaders().set("Cache-Control", "no-cache");
                send(ex, 200, "text/html; charset=utf-8", status.page());
                return;
            }
            case "/v1/status" -> {
                requireMethod(method, "GET");
                ex.getResponseHeaders().set("Cache-Control", "no-store");
                send(ex, 200, "application/json", status.statusJson());
                return;
            }
            case "/v1/status/services" -> {
                requireMethod(method, "GET");
                sendServices(ex);
                return;
            }
            case "/v1/snapshot" -> {
                requireMethod(method, "GET");
                send(ex, 200, "application/json", JsonCodec.encode(publisher.current()));
                return;
            }
            case "/v1/services" -> {
                requireMethod(method, "GET");
                send(ex, 200, "application/json", servicesJson(publisher.current()));
                return;
            }
            case "/v1/instances" -> {
                requireMethod(method, "POST");
                register(ex, false);
                return;
            }
            default -> { }
        }
        if (parts.length == 6 && parts[1].equals("v1") && parts[2].equals("instances") && parts[5].equals("heartbeat")) {
            requireMethod(method, "PUT");
            String key = key(parts[3], parts[4]);
            Registry.Lease lease = leases.get(key);
            if (lease == null) {
                error(ex, 404, "instance " + parts[3] + "/" + parts[4] + " is not registered through this agent; register it again");
                return;
            }
            lease.keepAliveOnce();
            send(ex, 200, "application/json", "{\"ok\":true}".getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (parts.length == 5 && parts[1].equals("v1") && parts[2].equals("instances")) {
            requireMethod(method, "DELETE");
            String service = Validate.serviceName("service", parts[3]);
            String id = Validate.id("id", parts[4]);
            Registry.Lease lease = leases.remove(key(service, id));
            registrants.remove(key(service, id));
            if (lease != null) {
                lease.close();
            }
            boolean existed = registry.deregister(service, id);
            if (!existed && lease == null) {
                error(ex, 404, "no instance " + service + "/" + id);
                return;
            }
            log.info("deregistered {}/{}", service, id);
            send(ex, 200, "application/json", "{\"ok\":true}".getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (parts.length == 4 && parts[1].equals("v1") && parts[2].equals("services")) {
            requireMethod(method, "DELETE");
            String service = Validate.serviceName("service", parts[3]);
            leases.entrySet().removeIf(e -> {
                if (e.getKey().startsWith(service + "/")) {
                    e.getValue().close();
                    return true;
                }
                return false;
            });
            registrants.keySet().removeIf(k -> k.startsWith(service + "/"));
            if (!registry.deleteService(service)) {
                error(ex, 404, "no service " + service);
                return;
            }
            log.info("deleted service {}", service);
            send(ex, 200, "application/json", "{\"ok\":true}".getBytes(StandardCharsets.UTF_8));
            return;
        }
        error(ex, 404, "no such endpoint: " + method + " " + path);
    }

    private void register(HttpExchange ex, boolean restricted) throws IOException {
        Registration r = JsonCodec.decodeRegistration(readBody(ex));
        InetAddress source = ex.getRemoteAddress().getAddress();
        if (r.address() == null) {
            // host ports: the node's address; a host process over the admin API's loopback: the node's address too
            r = r.withAddress(!r.hostPorts().isEmpty() || !restricted && source.isLoopbackAddress() ? advertise : source);
        }
        if (restricted) {
            checkRestricted(r, source);
        }
        if (r.node() == null) {
            r = r.withNode(node);
        }
        if (r.id() == null) {
            r = r.withId(Ids.newId(r.service()));
        }
        Service service = registry.ensureService(r.impliedService());
        Instance instance = r.toInstance(Instant.now());
        String key = key(r.service(), r.id());
        Registry.Lease lease = registry.hold(instance, r.ttlSeconds(), source);
        Registry.Lease old = leases.put(key, lease);
        registrants.put(key, source);
        if (old != null) {
            old.close();
        }
        log.info("registered {}/{} at {} (ttl {} s)", r.service(), r.id(), r.address().getHostAddress(), r.ttlSeconds());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("service", r.service());
            g.writeStringField("id", r.id());
            g.writeStringField("node", r.node());
            g.writeStringField("address", r.address().getHostAddress());
            if (service.vip() != null) {
                g.writeStringField("vip", service.vip().getHostAddress());
            }
            g.writeNumberField("ttl", r.ttlSeconds());
            g.writeEndObject();
        }
        send(ex, 201, "application/json", out.toByteArray());
    }

    /** What a registration listener allows: see the class comment. */
    private void checkRestricted(Registration r, InetAddress source) {
        if (r.node() != null && !r.node().equals(node)) {
            throw new Forbidden("node '" + r.node() + "': an instance registered through this listener is this node's, " + node);
        }
        boolean own = r.address().equals(source) && r.hostPorts().isEmpty();
        boolean mapped = r.address().equals(advertise) && r.everyPortMapped();
        if (!own && !mapped) {
            throw new Forbidden("address '" + r.address().getHostAddress() + "'" + (r.hostPorts().isEmpty() ? "" : " with host ports "
                    + r.hostPorts()) + ": an instance registered from " + source.getHostAddress() + " carries that address, or this node's "
                    + "advertise address " + advertise.getHostAddress() + " with a host port for every port");
        }
        if (r.id() != null) {
            InetAddress registrant = registrants.get(key(r.service(), r.id()));
            // not registered through this agent since it started: a stored instance of that id may be taken
            // back only by the same claim (this node, same address and ports), as after an agent restart
            Instance claim = r.withNode(node).toInstance(Instant.EPOCH);
            boolean othersClaim = publisher.current().instances(r.service()).stream().anyMatch(i -> i.id().equals(r.id())
                    && !(i.node().equals(node) && i.address().equals(claim.address()) && i.ports().equals(claim.ports())));
            if (registrant != null ? !registrant.equals(source) : othersClaim) {
                throw new Forbidden("id '" + r.id() + "': instance " + r.service() + "/" + r.id() + " was not registered from "
                        + source.getHostAddress());
            }
        }
    }

    private static String key(String service, String id) {
        return service + "/" + id;
    }

    private static byte[] servicesJson(ClusterSnapshot s) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartArray();
            for (Service svc : s.services().values()) {
                g.writeStartObject();
                g.writeStringField("name", svc.name());
                g.writeStringField("mode", svc.mode().lower());
                if (svc.vip() != null) {
                    g.writeStringField("vip", svc.vip().getHostAddress());
                }
                g.writeNumberField("instances", s.instances(svc.name()).size());
                g.writeNumberField("serving", s.servingInstances(svc.name()).size());
                g.writeEndObject();
            }
            g.writeEndArray();
        }
        return out.toByteArray();
    }

    /** The kept document of the current snapshot: 304 when the client has it, gzipped when the client takes that. */
    private void sendServices(HttpExchange ex) throws IOException {
        StatusPage.Document d = status.services();
        var headers = ex.getResponseHeaders();
        headers.set("ETag", d.etag());
        headers.set("Cache-Control", "no-cache");
        headers.set("Vary", "Accept-Encoding");
        String match = ex.getRequestHeaders().getFirst("If-None-Match");
        if (match != null && match.equals(d.etag())) {
            ex.sendResponseHeaders(304, -1);
            return;
        }
        String accept = ex.getRequestHeaders().getFirst("Accept-Encoding");
        boolean gzip = accept != null && accept.contains("gzip");
        if (gzip) {
            headers.set("Content-Encoding", "gzip");
        }
        send(ex, 200, "application/json", gzip ? d.gzipped() : d.plain());
    }

    private static void requireMethod(String method, String wanted) {
        if (!method.equals(wanted)) {
            throw new MethodNotAllowed("method " + method + ": this endpoint takes " + wanted, wanted);
        }
    }

    /** 405, with the method the endpoint takes in {@code Allow}. */
    private static final class MethodNotAllowed extends RuntimeException {
        final String allow;

        MethodNotAllowed(String message, String allow) {
            super(message);
            this.allow = allow;
        }
    }

    private static byte[] readBody(HttpExchange ex) throws IOException {
        try (InputStream in = ex.getRequestBody()) {
            byte[] body = in.readNBytes(MAX_BODY + 1);
            if (body.length > MAX_BODY) {
                throw new ValidationException("body", body.length + "+ bytes", "at most " + MAX_BODY + " bytes");
            }
            return body;
        }
    }

    private static void error(HttpExchange ex, int status, String message) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("error", message);
            g.writeEndObject();
        }
        send(ex, status, "application/json", out.toByteArray());
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            try (OutputStream os = ex.getResponseBody()) {
                os.write(body);
            }
        }
    }

    /**
     * Stops serving. Instances registered through this agent stay held by the registry (etcd: under the host
     * lease, kept in the state directory for the next start); registrants' heartbeats go on once it is back.
     */
    @Override
    public void close() {
        registerServers.forEach(r -> r.stop(0));
        server.stop(0);
        executor.shutdownNow();
    }
}
