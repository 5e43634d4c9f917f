package io.portolan.agent.cli;

import io.portolan.agent.registry.Registry;
import io.portolan.agent.registry.etcd.EtcdAccess;
import io.portolan.agent.registry.etcd.EtcdRegistry;
import io.portolan.proto.Cidr;
import io.portolan.proto.Instance;
import io.portolan.proto.JsonCodec;
import io.portolan.proto.KeyLayout;
import io.portolan.proto.Registration;
import io.portolan.proto.Service;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import com.fasterxml.jackson.databind.JsonNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/** How a registrant process holds its registration: through the local agent, or straight in etcd. */
interface Registrar extends AutoCloseable {
    /** Registers and starts keeping the instance alive; returns {id, vip-or-null}. */
    String[] register(Registration r);

    /** Removes the registered instance. */
    void deregister();

    @Override
    void close();

    /** Through the agent's HTTP API: heartbeats every TTL/3; a 404 (agent restarted) registers again. */
    final class ViaAgent implements Registrar {
        private static final Logger log = LoggerFactory.getLogger(ViaAgent.class);
        private final AgentClient client;
        private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "heartbeat");
            t.setDaemon(true);
            return t;
        });
        private volatile Registration registration;

        ViaAgent(AgentClient client) {
            this.client = client;
        }

        @Override
        public String[] register(Registration r) {
            JsonNode reply = post(r);
            String id = reply.path("id").asText();
            registration = r.withId(id);
            long period = Math.max(500, r.ttlSeconds() * 1000L / 3);
            timer.scheduleWithFixedDelay(this::heartbeat, period, period, TimeUnit.MILLISECONDS);
            return new String[] {id, reply.hasNonNull("vip") ? reply.get("vip").asText() : null};
        }

        private JsonNode post(Registration r) {
            AgentClient.Reply reply = client.send("POST", "/v1/instances", JsonCodec.encode(r));
            if (reply.status() != 201) {
                AgentClient.raise(reply, "register");
            }
            return reply.json();
        }

        private void heartbeat() {
            Registration r = registration;
            if (r == null) {
                return;
            }
            try {
                AgentClient.Reply reply = client.send("PUT", "/v1/instances/" + r.service() + "/" + r.id() + "/heartbeat", null);
                if (reply.status() == 404) {
                    log.info("the agent does not know {}/{} (restarted?); registering again", r.service(), r.id());
                    post(r);
                } else if (reply.status() != 200) {
                    log.warn("heartbeat for {}/{}: {} {}", r.service(), r.id(), reply.status(), reply.error());
                }
            } catch (RuntimeException e) {
                log.warn("heartbeat for {}/{} failed: {}", r.service(), r.id(), e.getMessage());
            }
        }

        @Override
        public void deregister() {
            Registration r = registration;
            registration = null;
            timer.shutdownNow();
            if (r != null) {
                AgentClient.Reply reply = client.send("DELETE", "/v1/instances/" + r.service() + "/" + r.id(), null);
                if (reply.status() != 200 && reply.status() != 404) {
                    AgentClient.raise(reply, "deregister");
                }
            }
        }

        @Override
        public void close() {
            timer.shutdownNow();
        }
    }

    /** Straight to etcd: a lease kept alive by this process, re-granted if the stream ends. */
    final class ViaEtcd implements Registrar {
        private final EtcdRegistry registry;
        private volatile Registry.Lease lease;

        ViaEtcd(EtcdAccess access, KeyLayout layout, Cidr cidr, Duration timeout) {
            this.registry = new EtcdRegistry(access, layout, cidr, timeout, new SimpleMeterRegistry());
            if (access.secured()) {
                try {
                    registry.requireAccess(); // a refusal in one line, before anything is written
                } catch (RuntimeException e) {
                    registry.close();
                    throw e;
                }
            }
        }

        EtcdRegistry registry() {
            return registry;
        }

        @Override
        public String[] register(Registration r) {
            Service s = registry.ensureService(r.impliedService());
            Instance i = r.toInstance(Instant.now());
            lease = registry.register(i, r.ttlSeconds(), true);
            return new String[] {i.id(), s.vip() == null ? null : s.vip().getHostAddress()};
        }

        @Override
        public void deregister() {
            Registry.Lease l = lease;
            lease = null;
            if (l != null) {
                l.revoke();
            }
        }

        @Override
        public void close() {
            Registry.Lease l = lease;
            if (l != null) {
                l.close();
            }
            registry.close();
        }
    }
}
