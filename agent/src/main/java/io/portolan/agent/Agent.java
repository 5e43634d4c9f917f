package io.portolan.agent;

import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheus.PrometheusConfig;
import io.micrometer.prometheus.PrometheusMeterRegistry;
import io.portolan.agent.admin.AdminServer;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.health.HealthChecker;
import io.portolan.agent.importer.dubbo.DubboImporter;
import io.portolan.agent.importer.dubbo.DubboSettings;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.agent.registry.etcd.EtcdRegistry;
import io.portolan.agent.registry.local.LocalRegistry;
import io.portolan.dns.DnsServer;
import io.portolan.lb.DataPlane;
import io.portolan.lb.DataPlaneKind;
import io.portolan.lb.DataPlanes;
import io.portolan.proto.Node;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The daemon, wired: a registry (etcd, or the embedded local store when no endpoints are given)
 * feeds the {@link RegistryState}, which publishes snapshots to every consumer; the admin API
 * serves registrations, the snapshot, health and metrics. {@link #close()} stops it in reverse.
 */
public final class Agent implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Agent.class);

    /** Health checks running at once, at most (each a blocking probe bounded by its timeout). */
    static final int MAX_CHECKS_IN_FLIGHT = 32;

    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final SnapshotPublisher publisher = new SnapshotPublisher();
    private final PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final RegistryState state;
    private final Registry registry;
    private final AdminServer admin;
    /** The data plane {@code --dataplane} came to ({@code none}, or a kind's name). */
    private String planeName;

    private Agent(AgentConfig config, List<Integer> inheritedFds) throws IOException {
        new ClassLoaderMetrics().bindTo(meters);
        new JvmMemoryMetrics().bindTo(meters);
        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(meters);
        closeables.add(gc);
        new JvmThreadMetrics().bindTo(meters);
        new ProcessorMetrics().bindTo(meters);
        new UptimeMetrics().bindTo(meters);

        state = new RegistryState(config.layout(), publisher, meters);
        closeables.add(state);
        if (config.etcdEndpoints().isEmpty()) {
            registry = new LocalRegistry(config.stateDir(), config.layout(), config.vipCidr());
            log.info("registry: embedded local store in {}", config.stateDir());
        } else {
            EtcdRegistry etcd = new EtcdRegistry(config.etcdAccess(), config.layout(), config.vipCidr(), config.etcdTimeout(), meters,
                    config.stateDir());
            registry = etcd;
            log.info("registry: etcd at {} under {}", config.etcdAccess().describe(), config.layout().prefix());
            if (config.etcdAccess().secured()) {
                checkAccess(etcd, config);
            }
        }
        closeables.add(registry);
        DataPlanes.Choice choice = DataPlanes.choose(config.dataplane(), config.moduleFlags(), config.vipCidr());
        if (choice.warning()) {
            log.warn("data plane none: {}", choice.reason());
        } else {
            log.info("data plane {}: {}", choice.name(), choice.reason());
        }
        planeName = choice.name();
        DataPlane plane = null;
        if (choice.kind() != null) {
            plane = choice.kind().create().apply(config.moduleFlags(), meters);
            closeables.add(plane);
            if (plane.coalesces()) {
                publisher.addDirectListener(plane.name(), plane::update); // its CoalescingSync is the one place bursts coalesce
            } else {
                publisher.addListener(plane.name(), plane::update);
            }
        }
        if (config.dns() != null) {
            DnsServer dns = DnsServer.start(config.dns(), meters, inheritedFds);
            closeables.add(dns);
            publisher.addListener("dns", dns::update);
            log.info("DNS for zone {} on {}", config.dns().zone(), dns.boundAddresses());
        } else if (!inheritedFds.isEmpty()) {
            log.warn("inherited fds {} not used: DNS is off (--dns-listen none)", inheritedFds);
        }
        HealthChecker checker = new HealthChecker(config.node(), registry, meters, MAX_CHECKS_IN_FLIGHT);
        closeables.add(checker);
        publisher.addDirectListener("health", checker::update);
        closeables.add(publisher); // listener threads stop before DNS and the data plane close
        DubboSettings dubbo = config.dubboImport();
        if (dubbo != null) { // before the registry starts: the first snapshot waits for Dubbo's keys too
            closeables.add(DubboImporter.start((EtcdRegistry) registry, state, publisher, dubbo, meters));
        }
        registry.start(state);
        closeables.add(announce(new Node(config.node(), config.advertiseAddress())));
        admin = new AdminServer(config.adminListen(), config.registerListen(), config.advertiseAddress(), registry, state, publisher,
                meters, config.node(), config.adminToken());
        admin.showDataPlane(plane);
        closeables.add(admin);
        if (config.adminToken() != null) {
            log.info("admin API wants its bearer token (--admin-token-file) on every request but /healthz and /readyz");
        }
        log.info("portolan agent {} ({}) up: admin API on http://{}{}, VIPs from {}, data plane {}", config.node(),
                config.advertiseAddress().getHostAddress(), hostPort(admin.address()),
                admin.registerAddresses().isEmpty() ? "" : ", registrations on " + admin.registerAddresses(), config.vipCidr(), planeName);
    }

    /** The data plane running: {@code none} or a kind's name (what {@code --dataplane auto} chose). */
    public String dataplane() {
        return planeName;
    }

    /**
     * Before anything listens: etcd must let this agent in (TLS, its user, its role's read and write under
     * the prefix, read under Dubbo's keys when importing). A refusal stops the start with one line naming
     * it; an etcd that cannot be reached does not (the agent starts and retries, as without security).
     */
    private void checkAccess(EtcdRegistry etcd, AgentConfig config) {
        DubboSettings dubbo = config.dubboImport();
        List<String> reads = dubbo == null ? List.of() : dubbo.readPrefixes();
        try {
            if (etcd.checkAccess(reads)) {
                log.info("etcd lets {} read and write under {}{}", config.etcdAccess().user() == null ? "this agent"
                        : "etcd user '" + config.etcdAccess().user() + "'", config.layout().prefix(), reads.isEmpty() ? "" : " and read under " + reads);
            } else {
                log.warn("etcd at {} cannot be reached yet; its access was not checked: starting, and retrying", config.etcdAccess().endpoints());
            }
        } catch (RuntimeException e) {
            etcd.close();
            state.close();
            throw e;
        }
    }

    /**
     * {@code portolan agent --cleanup}: every data plane kind removes what it made on this host, and
     * nothing else; one kind failing does not stop the others, and the first failure is thrown at the end.
     */
    public static void cleanup(AgentConfig config) {
        RuntimeException failed = null;
        for (DataPlaneKind kind : DataPlanes.all()) {
            try {
                kind.cleanup().accept(config.moduleFlags());
            } catch (RuntimeException e) {
                log.error("cleanup of the {} data plane failed: {}", kind.name(), e.getMessage());
                failed = failed == null ? e : failed;
            }
        }
        if (failed != null) {
            throw failed;
        }
        log.info("removed what portolan's data planes made on this host");
    }

    /**
     * Announces this node (its advertise address) and keeps it announced; while the store is
     * unreachable, retries every 2 s on a thread of its own. Closing it revokes the announcement.
     */
    private AutoCloseable announce(Node node) {
        java.util.concurrent.atomic.AtomicReference<Registry.Lease> lease = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();
        Thread t = new Thread(() -> {
            while (!closed.get()) {
                try {
                    lease.set(registry.announce(node));
                    log.info("node {} announced at {}", node.name(), node.address().getHostAddress());
                    if (closed.get()) {
                        lease.get().revoke();
                    }
                    return;
                } catch (RuntimeException e) {
                    log.warn("cannot announce node {} yet ({}); retrying in 2 s", node.name(), e.getMessage());
                }
                try {
                    Thread.sleep(2_000);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "node-announce");
        t.setDaemon(true);
        t.start();
        return () -> {
            closed.set(true);
            t.interrupt();
            Registry.Lease l = lease.get();
            if (l != null) {
                l.revoke();
            }
        };
    }

    public static Agent start(AgentConfig config) throws IOException {
        return new Agent(config, List.of());
    }

    /**
     * Starts the agent with sockets handed to the process (socket activation): the DNS server serves
     * the ones bound to its listen addresses instead of binding those ({@link DnsServer#start}).
     */
    public static Agent start(AgentConfig config, List<Integer> inheritedFds) throws IOException {
        return new Agent(config, inheritedFds);
    }

    static String hostPort(InetSocketAddress a) {
        String h = a.getAddress().getHostAddress();
        return (h.contains(":") ? "[" + h + "]" : h) + ":" + a.getPort();
    }

    /** Ready: the registry's first listing is loaded and DNS answers from it (what {@code /readyz} says). */
    public boolean ready() {
        return state.loaded() && publisher.listenersCaughtUp();
    }

    public SnapshotPublisher publisher() {
        return publisher;
    }

    public RegistryState state() {
        return state;
    }

    /** The store the agent registers into (etcd, or the embedded one). */
    public Registry registry() {
        return registry;
    }

    public InetSocketAddress adminAddress() {
        return admin.address();
    }

    /** Where the registration listeners ({@code --register-listen}) are bound. */
    public java.util.List<InetSocketAddress> registerAddresses() {
        return admin.registerAddresses();
    }

    @Override
    public void close() {
        List<AutoCloseable> reversed = new ArrayList<>(closeables);
        Collections.reverse(reversed);
        for (AutoCloseable c : reversed) {
            try {
                c.close();
            } catch (Exception e) {
                log.warn("closing {}", c, e);
            }
        }
        meters.close();
        log.info("portolan agent stopped");
    }
}
