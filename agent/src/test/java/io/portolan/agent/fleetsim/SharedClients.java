package io.portolan.agent.fleetsim;

import io.etcd.jetcd.Client;
import io.portolan.agent.registry.etcd.EtcdAccess;
import io.portolan.agent.registry.etcd.EtcdRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.impl.VertxInternal;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * jetcd clients for many simulated agents in one JVM. jetcd 0.8.5 gives every client its own Vert.x
 * instance (event loops, a blocked-thread checker thread, selectors) and its own cached thread pool;
 * a real agent has two or three clients, a JVM of 300 simulated agents would have a thousand Vert.x
 * instances. Here every client gets the same executor (jetcd's {@code ClientBuilder.executorService})
 * and the same Vert.x, whose event loops gRPC's Netty transport runs on; each client still builds its
 * own gRPC channel, so each agent keeps its own connections and its own watch stream, as on a host.
 *
 * <p>jetcd has no setter for its Vert.x: it is put in the client's {@code ClientConnectionManager}
 * by reflection before the first call (which would build one), wrapped so that a client's close
 * (a watch leaving its member closes that member's client) does not close the shared one.
 */
final class SharedClients implements EtcdRegistry.Clients, AutoCloseable {
    private final Vertx vertx;
    private final VertxInternal nonClosing;
    private final ExecutorService executor;

    SharedClients(int eventLoops) {
        this.vertx = Vertx.vertx(new VertxOptions().setUseDaemonThread(true).setEventLoopPoolSize(eventLoops));
        this.nonClosing = (VertxInternal) Proxy.newProxyInstance(VertxInternal.class.getClassLoader(),
                new Class<?>[] {VertxInternal.class}, (proxy, method, args) -> {
                    if (method.getName().equals("close")) {
                        return method.getReturnType() == void.class ? null : Future.succeededFuture();
                    }
                    try {
                        return method.invoke(vertx, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        this.executor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "jetcd-shared");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public Client build(EtcdAccess access, Duration timeout) {
        Client c = access.builder(timeout).executorService(executor).build();
        try {
            Field f = c.getClass().getDeclaredField("connectionManager");
            f.setAccessible(true);
            Object manager = f.get(c);
            Field v = manager.getClass().getDeclaredField("vertx");
            v.setAccessible(true);
            v.set(manager, nonClosing);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("jetcd's ClientConnectionManager has no 'vertx' field any more (jetcd upgraded?)", e);
        }
        return c;
    }

    @Override
    public void close() {
        executor.shutdownNow();
        vertx.close();
    }
}
