package io.portolan.agent.importer.dubbo;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.agent.importer.dubbo.DubboKeys.BadKey;
import io.portolan.agent.importer.dubbo.DubboKeys.Endpoint;
import io.portolan.agent.registry.KvEvent;
import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.RegistryState;
import io.portolan.agent.registry.SnapshotPublisher;
import io.portolan.agent.registry.etcd.EtcdRegistry;
import io.portolan.agent.registry.etcd.PrefixWatch;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.Service;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Serves the providers Apache Dubbo registers in etcd (its etcd3 registry: {@link DubboKeys}) as portolan
 * services, read-only: it watches Dubbo's root ({@code /dubbo/}) and {@code /services/} with the registry's
 * never-miss-an-event watch ({@link PrefixWatch}), and hands {@link RegistryState} the instances they make.
 *
 * <ul>
 *   <li>A Dubbo application is a service (its name through {@link ServiceNames}), in vip mode, defined (and its VIP
 *   allocated) through {@link Registry#ensureService}, like any service, with a port named after each protocol.</li>
 *   <li>An instance per distinct host:port and protocol, with that one port; it stays while any key naming it stays
 *   (every interface it provides, and its application-level key). Its weight is the interface-level keys' {@code weight}
 *   (the highest; Dubbo's default 100), its metadata the application, interfaces, versions and groups.</li>
 *   <li>Imported instances exist in the snapshot only: nothing is written under portolan's prefix for them, and
 *   nothing is ever written under Dubbo's keys (they live and die with Dubbo's own leases). Their node is the agent's
 *   whose advertise address is the instance's address ({@link RegistryState} resolves it), else {@value #NODE}.</li>
 *   <li>A key that does not read is skipped with a warning naming the key (credentials in it replaced by ***); what
 *   it stood for before stays in force, everything else is served.</li>
 * </ul>
 */
public final class DubboImporter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DubboImporter.class);
    /** The name RegistryState knows this importer by. */
    static final String NAME = "dubbo";
    /** The node of an imported instance whose address is no agent's. */
    public static final String NODE = "dubbo";

    private final Registry registry;
    private final RegistryState state;
    private final SnapshotPublisher publisher;
    private final Counter invalid;
    private final Source interfaces;
    private final Source applications;
    private final List<PrefixWatch> watches = new ArrayList<>();
    private final Ensurer ensurer;
    private volatile boolean closed;

    // guarded by `this`
    /** service -> key -> the endpoints that key names. */
    private final Map<String, Map<String, List<Endpoint>>> byService = new HashMap<>();
    /** key -> when this agent first saw it (an instance's registration time when Dubbo's timestamp is missing). */
    private final Map<String, Long> firstSeen = new HashMap<>();
    /** service -> protocol -> port: the ports its definition must have. */
    private final Map<String, Map<String, Integer>> wantedPorts = new HashMap<>();
    private boolean loadedSignalled;

    private DubboImporter(Registry registry, RegistryState state, SnapshotPublisher publisher, DubboSettings settings, MeterRegistry meters) {
        this.registry = registry;
        this.state = state;
        this.publisher = publisher;
        this.invalid = Counter.builder("portolan_import_invalid_keys").description("imported keys that did not read and were skipped")
                .tag("source", NAME).register(meters);
        String root = settings.rootPrefix();
        this.interfaces = new Source(root, (k, v) -> {
            Endpoint e = DubboKeys.provider(root, k);
            return e == null ? null : List.of(e);
        });
        this.applications = new Source(DubboKeys.APPLICATIONS_PREFIX, DubboKeys::application);
        this.ensurer = new Ensurer();
    }

    /**
     * Starts importing: the state publishes no snapshot until both prefixes are listed (a name not listed yet is
     * not absent); then every change. Closing it stops the watches (the instances stay in the state).
     */
    public static DubboImporter start(EtcdRegistry etcd, RegistryState state, SnapshotPublisher publisher, DubboSettings settings,
                                      MeterRegistry meters) {
        DubboImporter d = new DubboImporter(etcd, state, publisher, settings, meters);
        state.expectImport(NAME);
        d.ensurer.start();
        publisher.addDirectListener("dubbo-import", s -> d.ensurer.wake());
        d.watches.add(etcd.watchPrefix("dubbo-interfaces", settings.rootPrefix(), d.interfaces, meters));
        d.watches.add(etcd.watchPrefix("dubbo-applications", DubboKeys.APPLICATIONS_PREFIX, d.applications, meters));
        log.info("importing Apache Dubbo's providers from etcd: interface level under {}, application level under {}",
                settings.rootPrefix(), DubboKeys.APPLICATIONS_PREFIX);
        return d;
    }

    @FunctionalInterface
    private interface Reader {
        /** The endpoints a key names; null for a key that names none (Dubbo's own directories, consumers...). */
        List<Endpoint> read(String key, byte[] value) throws BadKey;
    }

    /** One watched prefix: the keys it holds, what each stands for, and the keys skipped. */
    private final class Source implements PrefixWatch.Sink {
        private final String prefix;
        private final Reader reader;
        private final Map<String, byte[]> acceptedValues = new HashMap<>();
        private final Map<String, List<Endpoint>> accepted = new HashMap<>();
        /** Keys skipped, with the value that was refused (warned about once per value). */
        private final Map<String, byte[]> rejected = new HashMap<>();
        private boolean loaded;

        Source(String prefix, Reader reader) {
            this.prefix = prefix;
            this.reader = reader;
        }

        @Override
        public void reset(Map<String, byte[]> listing, long revision) {
            Set<String> touched = new HashSet<>();
            int deleted = 0;
            boolean first;
            synchronized (DubboImporter.this) {
                Set<String> known = new HashSet<>(accepted.keySet());
                known.addAll(rejected.keySet());
                for (String key : known) {
                    if (!listing.containsKey(key)) {
                        deleted += delete(key, touched) ? 1 : 0;
                    }
                }
                for (Map.Entry<String, byte[]> e : listing.entrySet()) {
                    put(e.getKey(), e.getValue(), touched);
                }
                first = !loaded;
                loaded = true;
            }
            if (first) {
                log.info("listed {} keys under {} at revision {}", listing.size(), prefix, revision);
            } else {
                log.info("re-listed {} keys under {} at revision {}; {} deleted while unwatched", listing.size(), prefix, revision, deleted);
            }
            publish(touched);
        }

        @Override
        public void apply(List<KvEvent> events, long revision) {
            Set<String> touched = new HashSet<>();
            synchronized (DubboImporter.this) {
                for (KvEvent e : events) {
                    if (e.isDelete()) {
                        delete(e.key(), touched);
                    } else {
                        put(e.key(), e.value(), touched);
                    }
                }
            }
            publish(touched);
        }

        private void put(String key, byte[] value, Set<String> touched) {
            if (Arrays.equals(acceptedValues.get(key), value) || Arrays.equals(rejected.get(key), value)) {
                return;
            }
            List<Endpoint> endpoints;
            try {
                endpoints = reader.read(key, value);
            } catch (BadKey e) {
                rejected.put(key, value);
                invalid.increment();
                log.warn("skipping Dubbo key {}: {} ({})", DubboKeys.display(key), e.getMessage(),
                        accepted.containsKey(key) ? "what it held before stays in force" : "everything else is served");
                return;
            }
            rejected.remove(key);
            if (endpoints == null) {
                return;
            }
            List<Endpoint> old = accepted.put(key, endpoints);
            acceptedValues.put(key, value);
            if (old != null) {
                forget(key, old, touched);
            }
            firstSeen.putIfAbsent(key, System.currentTimeMillis());
            for (Endpoint e : endpoints) {
                byService.computeIfAbsent(e.service(), s -> new HashMap<>()).put(key, endpoints);
                touched.add(e.service());
            }
        }

        private boolean delete(String key, Set<String> touched) {
            rejected.remove(key);
            acceptedValues.remove(key);
            List<Endpoint> old = accepted.remove(key);
            if (old == null) {
                return false;
            }
            forget(key, old, touched);
            firstSeen.remove(key);
            return true;
        }

        private void forget(String key, List<Endpoint> endpoints, Set<String> touched) {
            for (Endpoint e : endpoints) {
                Map<String, List<Endpoint>> keys = byService.get(e.service());
                if (keys != null) {
                    keys.remove(key);
                    if (keys.isEmpty()) {
                        byService.remove(e.service());
                    }
                }
                touched.add(e.service());
            }
        }
    }

    /** Recomputes the touched services' instances and hands them to the state. */
    private void publish(Set<String> touched) {
        Map<String, List<Instance>> changed = new HashMap<>();
        boolean loadedNow = false;
        synchronized (this) {
            for (String service : touched) {
                List<Instance> list = instances(service);
                changed.put(service, list);
                if (list.isEmpty()) {
                    wantedPorts.remove(service);
                } else {
                    Map<String, Integer> ports = new TreeMap<>();
                    for (Instance i : list) {
                        Port p = i.ports().get(0);
                        ports.merge(p.name(), p.number(), Math::min);
                    }
                    wantedPorts.put(service, ports);
                }
            }
            if (!loadedSignalled && interfaces.loaded && applications.loaded) {
                loadedSignalled = true;
                loadedNow = true;
            }
        }
        if (!changed.isEmpty()) {
            state.importInstances(changed);
            ensurer.wake();
        }
        if (loadedNow) {
            state.importLoaded(NAME);
        }
    }

    /** One service's instances from every key that names it: one per host:port and protocol. */
    private List<Instance> instances(String service) {
        Map<String, List<Endpoint>> keys = byService.get(service);
        if (keys == null) {
            return List.of();
        }
        Map<String, List<Endpoint>> byId = new TreeMap<>();
        Map<String, Long> seen = new HashMap<>();
        for (Map.Entry<String, List<Endpoint>> k : keys.entrySet()) {
            for (Endpoint e : k.getValue()) {
                if (!e.service().equals(service)) {
                    continue;
                }
                String id = id(e);
                byId.computeIfAbsent(id, x -> new ArrayList<>()).add(e);
                long when = e.timestamp() > 0 ? e.timestamp() : firstSeen.getOrDefault(k.getKey(), System.currentTimeMillis());
                seen.merge(id, when, Math::min);
            }
        }
        List<Instance> out = new ArrayList<>(byId.size());
        for (Map.Entry<String, List<Endpoint>> e : byId.entrySet()) {
            out.add(instance(service, e.getKey(), e.getValue(), seen.get(e.getKey())));
        }
        return out;
    }

    /** {@code dubbo-HOST-PORT-PROTOCOL} (an IPv6 address's ':' as '_'): unique per endpoint, a valid instance id. */
    static String id(Endpoint e) {
        return "dubbo-" + e.address().getHostAddress().replace(':', '_').replace('%', '_') + "-" + e.port() + "-" + e.protocol();
    }

    private static Instance instance(String service, String id, List<Endpoint> endpoints, long registered) {
        Endpoint first = endpoints.get(0);
        InetAddress address = first.address();
        int interfaceWeight = -1;
        int applicationWeight = -1;
        boolean healthy = false;
        Set<String> applications = new TreeSet<>();
        Set<String> interfaces = new TreeSet<>();
        Set<String> versions = new TreeSet<>();
        Set<String> groups = new TreeSet<>();
        Set<String> levels = new TreeSet<>();
        for (Endpoint e : endpoints) {
            applications.add(e.application());
            healthy |= e.healthy();
            if (e.interfaceLevel()) {
                interfaceWeight = Math.max(interfaceWeight, e.weight());
                levels.add("interface");
                if (!e.iface().isEmpty()) {
                    interfaces.add(e.iface());
                }
                if (!e.version().isEmpty()) {
                    versions.add(e.version());
                }
                if (!e.group().isEmpty()) {
                    groups.add(e.group());
                }
            } else {
                applicationWeight = Math.max(applicationWeight, e.weight());
                levels.add("application");
            }
        }
        Map<String, String> meta = new TreeMap<>();
        meta.put("dubbo.application", join(applications));
        meta.put("dubbo.registry", join(levels));
        if (!interfaces.isEmpty()) {
            meta.put("dubbo.interfaces", join(interfaces));
        }
        if (!versions.isEmpty()) {
            meta.put("dubbo.version", join(versions));
        }
        if (!groups.isEmpty()) {
            meta.put("dubbo.group", join(groups));
        }
        int weight = interfaceWeight >= 0 ? interfaceWeight : applicationWeight;
        return new Instance(id, service, NODE, address, List.of(new Port(first.protocol(), first.port(), Protocol.TCP)), weight,
                healthy ? Health.HEALTHY : Health.UNHEALTHY, meta, Instant.ofEpochMilli(registered), null, null,
                healthy ? null : "Dubbo's application-level key says healthy=false");
    }

    /** Comma-separated, cut at 1,024 characters (a metadata value's limit) with ",...". */
    static String join(Collection<String> values) {
        StringBuilder b = new StringBuilder();
        for (String v : values) {
            String next = (b.length() == 0 ? "" : ",") + v;
            if (b.length() + next.length() > 1_020) {
                b.append(",...");
                break;
            }
            b.append(next);
        }
        return b.toString();
    }

    /**
     * Defines each imported service with its ports through {@link Registry#ensureService} (the VIP allocated by the
     * same transaction as any service's), on a thread of its own: when the importer finds a new service or port,
     * and again whenever the snapshot lacks one (deleted by an operator, or etcd was unreachable), at most every 2 s
     * per service (60 s after a conflict, such as a dnsrr service of that name, which is warned about once).
     */
    private final class Ensurer implements Runnable {
        private final Thread thread = new Thread(this, "dubbo-services");
        private final Map<String, Long> nextTry = new HashMap<>();
        private final Map<String, Integer> failures = new HashMap<>();
        private final Set<String> warned = new HashSet<>();
        private boolean woken;

        void start() {
            thread.setDaemon(true);
            thread.start();
        }

        synchronized void wake() {
            woken = true;
            notifyAll();
        }

        @Override
        public void run() {
            while (!closed) {
                synchronized (this) {
                    if (!woken) {
                        try {
                            wait(1_000);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                    woken = false;
                }
                Map<String, Map<String, Integer>> want;
                synchronized (DubboImporter.this) {
                    want = new TreeMap<>(wantedPorts);
                }
                ClusterSnapshot snapshot = publisher.current();
                long now = System.nanoTime();
                nextTry.keySet().retainAll(want.keySet());
                for (Map.Entry<String, Map<String, Integer>> e : want.entrySet()) {
                    if (closed) {
                        return;
                    }
                    String name = e.getKey();
                    Service have = snapshot.services().get(name);
                    if (have != null && hasPorts(have, e.getValue().keySet())) {
                        failures.remove(name);
                        continue;
                    }
                    Long next = nextTry.get(name);
                    if (next != null && now - next < 0) {
                        continue;
                    }
                    ensure(name, e.getValue(), now);
                }
            }
        }

        private void ensure(String name, Map<String, Integer> ports, long now) {
            List<Port> list = new ArrayList<>();
            ports.forEach((protocol, number) -> list.add(new Port(protocol, number, Protocol.TCP)));
            try {
                Service s = registry.ensureService(new Service(name, Mode.VIP, list, null, null, null, null));
                nextTry.put(name, now + 2_000_000_000L);
                failures.remove(name);
                warned.remove(name);
                log.debug("Dubbo application service {} defined: vip {}, ports {}", name, s.vip() == null ? "-" : s.vip().getHostAddress(), s.ports());
            } catch (ValidationException e) {
                nextTry.put(name, now + 60_000_000_000L);
                if (warned.add(name)) {
                    log.warn("cannot define service {} for Dubbo's providers ({}); its imported instances are kept but served only as "
                            + "the stored service allows", name, e.getMessage());
                }
            } catch (RuntimeException e) {
                int n = failures.merge(name, 1, Integer::sum);
                long wait = Math.min(30_000L, 500L << Math.min(n, 6));
                nextTry.put(name, now + wait * 1_000_000L);
                log.warn("cannot define service {} for Dubbo's providers yet ({}); retrying in {} ms", name, e.getMessage(), wait);
            }
        }
    }

    static boolean hasPorts(Service s, Set<String> names) {
        for (String n : names) {
            boolean found = false;
            for (Port p : s.ports()) {
                if (p.protocol() == Protocol.TCP && p.name().equals(n)) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() {
        closed = true;
        for (PrefixWatch w : watches) {
            w.close();
        }
        ensurer.thread.interrupt();
    }
}
