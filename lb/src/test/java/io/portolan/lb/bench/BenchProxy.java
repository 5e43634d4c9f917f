package io.portolan.lb.bench;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.portolan.lb.DataPlane;
import io.portolan.lb.userspace.UserspaceConfig;
import io.portolan.lb.userspace.UserspaceDataPlane;
import io.portolan.proto.Health;
import io.portolan.proto.Instance;
import io.portolan.proto.Mode;
import io.portolan.proto.Port;
import io.portolan.proto.Service;
import io.portolan.proto.Validate;
import io.portolan.proto.testing.Snapshots;

import java.net.InetAddress;
import java.util.List;
import java.util.Map;

/**
 * The proxy side of {@code bench/lb/run.sh}: one service on {@code VIP:PORT} (a 127.x address,
 * already local) with one instance on 127.0.0.1:BACKEND_PORT, through the public factory. Runs
 * until killed. Usage: {@code BenchProxy VIP PORT BACKEND_PORT [--lb-FLAG=VALUE ...]}.
 */
public final class BenchProxy {
    private BenchProxy() {
    }

    public static void main(String[] args) throws Exception {
        InetAddress vip = Validate.unicast("vip", args[0]);
        int port = Integer.parseInt(args[1]);
        int backend = Integer.parseInt(args[2]);
        UserspaceConfig.Builder b = UserspaceConfig.builder();
        for (int i = 3; i < args.length; i++) {
            String a = args[i];
            int eq = a.indexOf('=');
            b.flag(a.substring("--lb-".length(), eq), a.substring(eq + 1));
        }
        DataPlane plane = UserspaceDataPlane.create(b.build(), new SimpleMeterRegistry());
        Service svc = new Service("bench", Mode.VIP, List.of(new Port("http", port, null)), vip, "rr", List.of(), null);
        Instance inst = new Instance("nginx", "bench", "node1", InetAddress.getLoopbackAddress(),
                List.of(new Port("http", backend, null)), 100, Health.HEALTHY, Map.of(), null, null);
        plane.update(Snapshots.builder().service(svc).instance(inst).build(1));
        System.out.println("READY");
        System.out.flush();
        Runtime.getRuntime().addShutdownHook(new Thread(plane::close));
        Thread.currentThread().join();
    }
}
