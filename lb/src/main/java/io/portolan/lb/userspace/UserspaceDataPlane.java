package io.portolan.lb.userspace;

import io.micrometer.core.instrument.MeterRegistry;
import io.netty.channel.EventLoopGroup;
import io.portolan.lb.DataPlane;
import io.portolan.lb.DataPlaneKind;
import io.portolan.lb.DataPlaneStatus;
import io.portolan.lb.host.Exec;
import io.portolan.lb.host.VipAddresses;
import io.portolan.proto.ClusterSnapshot;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Protocol;
import io.portolan.proto.PublishedPort;
import io.portolan.proto.Service;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The userspace data plane: a proxy on every port of every {@code vip}-mode service, and on every
 * local address for each published port (the routing mesh); TCP through portolan's own epoll relay
 * by default, or Netty's; UDP through Netty. {@link #update} diffs the snapshot against what runs: it adds VIPs to the device, opens
 * and closes listeners, and swaps each port's precomputed plan; removed instances and services
 * drain. Nothing in {@code update} waits for traffic; it runs {@code ip} at most once per VIP change.
 */
public final class UserspaceDataPlane implements DataPlane {
    static final Logger log = LoggerFactory.getLogger(UserspaceDataPlane.class);

    /** The kind the agent chooses with {@code --dataplane userspace}. */
    public static final DataPlaneKind KIND = new DataPlaneKind("userspace", UserspaceConfig.FLAG_TABLE, UserspaceConfig::fromFlags,
            (flags, vips) -> probe(vips, io.portolan.lb.host.Capabilities.netAdmin(), Exec.onPath("ip"), UserspaceConfig.fromFlags(flags).vipDevice()),
            (flags, meters) -> create(UserspaceConfig.fromFlags(flags), meters), flags -> cleanup(UserspaceConfig.fromFlags(flags)));

    /**
     * Whether this plane can make its VIPs reach it: VIPs in 127.0.0.0/8 are local already; any
     * other VIP goes on the device with {@code ip addr add}, which needs CAP_NET_ADMIN. Null when it can.
     */
    static String probe(io.portolan.proto.Cidr vips, boolean netAdmin, boolean ipInstalled, String device) {
        if (vips.loopback()) {
            return null;
        }
        if (!ipInstalled) {
            return "ip is not on PATH (Debian package iproute2), needed to put VIPs from " + vips + " on " + device;
        }
        if (!netAdmin) {
            return "putting VIPs from " + vips + " on " + device + " needs root or CAP_NET_ADMIN (or --vip-cidr inside 127.0.0.0/8)";
        }
        return null;
    }

    /** A listener: a VIP's port, or a published port on every local address ({@link #ANY}). */
    private record Key(InetAddress vip, int port, Protocol protocol) {
    }

    private static final InetAddress ANY = io.portolan.proto.Validate.address("published", "0.0.0.0");

    private final ProxyContext ctx;
    private final VipBinder binder;
    private final ScheduledExecutorService control;
    private final Map<Key, Frontend> frontends = new HashMap<>();
    /** VIPs this data plane has put on the device. */
    private final Set<InetAddress> vips = new HashSet<>();
    private boolean closed;
    /** For {@link #status}, read from any thread: written at the end of each {@link #update}. */
    private volatile List<Frontend> frontendView = List.of();
    private volatile Map<String, String> refusedView = Map.of();
    private volatile long syncs;
    private volatile long syncedRevision = -1;
    private volatile Instant lastSync;
    private volatile Duration lastSyncTook;

    UserspaceDataPlane(UserspaceConfig config, MeterRegistry registry, VipBinder binder) {
        Transport transport = Transport.detect();
        if (config.splice() && !transport.epoll()) {
            log.warn("splice requested but native epoll is not available; relaying with buffers");
        }
        EventLoopGroup boss = transport.newGroup(1, "portolan-lb-accept");
        // One event loop per core by default (Netty's own default is two): proxying never blocks, and a
        // node agent should not hold more runnable threads than the host has cores.
        int threads = config.threads() > 0 ? config.threads() : Runtime.getRuntime().availableProcessors();
        EventLoopGroup workers = transport.newGroup(threads, "portolan-lb");
        this.ctx = new ProxyContext(config, transport, boss, workers, new LbMetrics(registry), nativeLoops(config, threads));
        this.binder = binder;
        this.control = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "portolan-lb-vips");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * The native TCP relay's loops, or null for Netty's: when asked for, when splice is off (splice
     * is Netty's), and when the native library loads.
     */
    private static NativeLoop[] nativeLoops(UserspaceConfig config, int threads) {
        if (config.tcpIo() != UserspaceConfig.TcpIo.NATIVE) {
            return null;
        }
        if (config.splice()) {
            log.info("TCP relayed by Netty's epoll transport: splice asked for");
            return null;
        }
        if (!NativeIo.available()) {
            log.warn("TCP relayed by Netty: the native relay is not available: {}", NativeIo.unavailability().toString());
            return null;
        }
        NativeLoop[] loops = new NativeLoop[threads];
        for (int i = 0; i < threads; i++) {
            loops[i] = new NativeLoop("portolan-lb-tcp-" + (i + 1));
        }
        return loops;
    }

    /** The userspace data plane, VIPs added to {@code config.vipDevice()} (labelled as portolan's). */
    public static DataPlane create(UserspaceConfig config, MeterRegistry registry) {
        return new UserspaceDataPlane(config, registry, VipBinder.on(VipAddresses.shared(Exec.local(), config.vipDevice())));
    }

    /** Removes the VIPs a userspace plane left on its device (a crashed one does not remove them itself). */
    static void cleanup(UserspaceConfig config) {
        VipAddresses device = VipAddresses.shared(Exec.local(), config.vipDevice());
        try {
            Set<InetAddress> left = device.list();
            Map<InetAddress, String> refused = device.remove(left);
            if (!left.isEmpty()) {
                log.info("userspace: removed {} VIP(s) from {}{}", left.size() - refused.size(), device.device(),
                        refused.isEmpty() ? "" : "; could not remove " + refused);
            }
        } catch (IOException e) {
            throw new IllegalStateException("userspace cleanup failed: " + e.getMessage(), e);
        }
    }

    @Override
    public String name() {
        return "userspace";
    }

    @Override
    public synchronized void update(ClusterSnapshot snapshot) {
        if (closed) {
            return;
        }
        long started = System.nanoTime();
        Map<String, String> refused = new TreeMap<>();
        apply(snapshot, refused);
        frontendView = List.copyOf(frontends.values());
        refusedView = Map.copyOf(refused);
        syncs++;
        syncedRevision = snapshot.revision();
        lastSyncTook = Duration.ofNanos(System.nanoTime() - started);
        lastSync = Instant.now();
    }

    /**
     * The connections each backend has, from the relay's own counters (bytes are not counted in splice
     * mode); only backends that have seen traffic, so a large idle table costs nothing.
     */
    @Override
    public DataPlaneStatus status() {
        List<DataPlaneStatus.Traffic> traffic = new ArrayList<>();
        for (Frontend fe : frontendView) {
            fe.traffic(traffic);
        }
        return new DataPlaneStatus(name(), syncs, 0, lastSync, lastSyncTook, syncedRevision, refusedView, traffic,
                "the relay's own counters, per backend that has seen traffic" + (ctx.splice ? " (bytes are not counted in splice mode)" : ""));
    }

    private void apply(ClusterSnapshot snapshot, Map<String, String> refused) {
        Map<Key, Service> desired = new LinkedHashMap<>();
        Map<Key, Port> ports = new HashMap<>();
        for (Service s : snapshot.services().values()) {
            if (s.mode() != Mode.VIP || s.vip() == null) {
                continue;
            }
            for (Port p : s.ports()) {
                Key k = new Key(s.vip(), p.number(), p.protocol());
                if (desired.containsKey(k)) {
                    log.warn("{}: {} {} is already served by {}; ignored", s.name(), s.vip().getHostAddress(), p,
                            desired.get(k).name());
                    continue;
                }
                desired.put(k, s);
                ports.put(k, p);
            }
            // the routing mesh: a published port answers on every local address, reaching the target port's instances
            for (PublishedPort pp : s.publishedPorts()) {
                Port target = s.ports().stream().filter(p -> p.number() == pp.target() && p.protocol() == pp.protocol()).findFirst()
                        .orElse(null);
                Key k = new Key(ANY, pp.published(), pp.protocol());
                if (target == null) {
                    log.warn("{}: published port {} names no port of the service; ignored", s.name(), pp);
                } else if (desired.containsKey(k)) {
                    log.warn("{}: published port {} is already served by {}; ignored", s.name(), pp, desired.get(k).name());
                } else {
                    desired.put(k, s);
                    ports.put(k, target);
                }
            }
        }
        // Listeners that go away, or whose VIP:port now belongs to another service or port spec.
        for (var it = frontends.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            Service s = desired.get(e.getKey());
            if (s == null || !s.name().equals(e.getValue().service) || !ports.get(e.getKey()).equals(e.getValue().port)) {
                e.getValue().close();
                it.remove();
            }
        }
        Set<InetAddress> failedVips = new HashSet<>();
        for (var e : desired.entrySet()) {
            Key k = e.getKey();
            Service s = e.getValue();
            try {
                if (!k.vip.isAnyLocalAddress() && !vips.contains(k.vip) && !failedVips.contains(k.vip)) {
                    binder.add(k.vip);
                    vips.add(k.vip);
                }
            } catch (RuntimeException ex) {
                failedVips.add(k.vip);
                refused.put(s.name(), "cannot add VIP " + k.vip.getHostAddress() + ": " + ex.getMessage());
                log.error("{}: cannot add VIP {}: {}", s.name(), k.vip.getHostAddress(), ex.getMessage());
                continue;
            }
            if (failedVips.contains(k.vip)) {
                continue;
            }
            Frontend fe = frontends.get(k);
            try {
                if (fe == null) {
                    InetSocketAddress at = new InetSocketAddress(k.vip, k.port);
                    Port p = ports.get(k);
                    fe = k.protocol == Protocol.UDP ? new UdpFrontend(ctx, at, s.name(), p) : new TcpFrontend(ctx, at, s.name(), p);
                    fe.apply(s, snapshot.servingInstances(s.name()));
                    fe.start();
                    frontends.put(k, fe);
                } else {
                    fe.apply(s, snapshot.servingInstances(s.name()));
                }
            } catch (RuntimeException ex) {
                refused.put(s.name(), "cannot serve " + k.vip.getHostAddress() + ":" + ports.get(k) + ": " + ex.getMessage());
                log.error("{}: cannot serve {}:{}: {}", s.name(), k.vip.getHostAddress(), ports.get(k), ex.toString());
                if (fe != null && !frontends.containsKey(k)) {
                    fe.close();
                }
            }
        }
        // VIPs no longer used: removed after the drain timeout, unless wanted again by then.
        Set<InetAddress> wanted = new HashSet<>();
        for (Key k : desired.keySet()) {
            if (!k.vip.isAnyLocalAddress()) {
                wanted.add(k.vip);
            }
        }
        for (InetAddress vip : Set.copyOf(vips)) {
            if (!wanted.contains(vip)) {
                vips.remove(vip);
                long ms = ctx.config.drainTimeout().toMillis();
                control.schedule(() -> removeVipIfUnused(vip), ms, TimeUnit.MILLISECONDS);
            }
        }
    }

    private synchronized void removeVipIfUnused(InetAddress vip) {
        if (!vips.contains(vip) && !closed) {
            binder.remove(vip);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Frontend fe : frontends.values()) {
            fe.closeNow();
        }
        frontends.clear();
        control.shutdownNow();
        for (InetAddress vip : vips) {
            binder.remove(vip);
        }
        vips.clear();
        if (ctx.loops != null) {
            for (NativeLoop l : ctx.loops) {
                l.shutdown(2000);
            }
        }
        ctx.boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        ctx.workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        ctx.boss.terminationFuture().syncUninterruptibly();
    }

    /** For tests: the frontend serving {@code vip:port}, or null. */
    synchronized Frontend frontend(InetAddress vip, int port, Protocol protocol) {
        return frontends.get(new Key(vip, port, protocol));
    }
}
