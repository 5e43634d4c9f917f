package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.Client;
import io.grpc.ManagedChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Keeps gRPC's reconnect backoff of a jetcd client short. gRPC waits longer after each failed
 * connect to a member (1 s, growing 1.6 times up to 120 s), so after an outage of a minute a client
 * may not try a member that is back for tens of seconds, while its calls fail at once (jetcd is
 * built with waitForReady off). jetcd does not expose its channel, nor a way to set that backoff:
 * {@link #reset()}, called when a call fails, makes the channel try every member now
 * ({@link ManagedChannel#resetConnectBackoff()}), at most once per {@code minIntervalMillis}, so a
 * member that came back is reached within about that long of the next failed call.
 *
 * <p>The channel is read from jetcd's {@code ClientImpl.connectionManager.getChannel()} by
 * reflection (jetcd 0.8.5, pinned in the parent pom); {@code EtcdReconnectTest} fails if that is no
 * longer there. Should it be missing at run time, this logs once and does nothing.
 */
final class ConnectBackoff {
    private static final Logger log = LoggerFactory.getLogger(ConnectBackoff.class);

    private final Client client;
    private final long minIntervalNanos;
    private final AtomicLong last = new AtomicLong(System.nanoTime() - TimeUnit.DAYS.toNanos(1));
    private ManagedChannel channel;
    private boolean looked;

    ConnectBackoff(Client client, long minIntervalMillis) {
        this.client = client;
        this.minIntervalNanos = TimeUnit.MILLISECONDS.toNanos(minIntervalMillis);
    }

    /** Short-circuits the backoff of every member in transient failure, unless done less than the interval ago. */
    void reset() {
        long now = System.nanoTime();
        long prev = last.get();
        if (now - prev < minIntervalNanos || !last.compareAndSet(prev, now)) {
            return;
        }
        ManagedChannel c = channel();
        if (c != null) {
            c.resetConnectBackoff();
        }
    }

    private synchronized ManagedChannel channel() {
        if (!looked) {
            looked = true;
            channel = channelOf(client);
        }
        return channel;
    }

    /** jetcd's channel of {@code client} (built now if it was not yet), or null when jetcd keeps it elsewhere. */
    static ManagedChannel channelOf(Client client) {
        try {
            Field f = client.getClass().getDeclaredField("connectionManager");
            f.setAccessible(true);
            Object manager = f.get(client);
            Method m = manager.getClass().getDeclaredMethod("getChannel");
            m.setAccessible(true);
            return (ManagedChannel) m.invoke(manager);
        } catch (ReflectiveOperationException | RuntimeException e) {
            log.warn("cannot reach jetcd's gRPC channel ({}): after a long etcd outage this process may take up to gRPC's"
                    + " reconnect backoff (up to 2 min) to reach etcd again", e.toString());
            return null;
        }
    }
}
