package io.portolan.client;

import java.time.Duration;
import java.util.Optional;

/**
 * A registered instance, kept alive by heartbeats until it is deregistered or the JVM dies (then it
 * expires with its TTL). Thread-safe.
 *
 * <p>Shutting down in the right order (the Dubbo order: the provider leaves the registry first,
 * consumers stop sending, then it stops):
 * <pre>{@code
 * Registration r = Portolan.agent().register(Service.named("web").port("http", 8080));
 * r.deregisterOnShutdown(Duration.ofSeconds(2))   // on SIGTERM: deregister, wait 2 s,
 *  .onShutdown(() -> server.stop(1));             // then stop the server
 * }</pre>
 * The JVM runs its shutdown hooks all at once, in no order: a server stopped by a hook of its own
 * would stop while consumers still send to it. Give the stop to {@link #onShutdown} instead, so it
 * runs after the deregistration and the drain. With Spring Boot, turn its hook off
 * ({@code SpringApplication.setRegisterShutdownHook(false)}) and pass {@code context::close}.
 */
public interface Registration extends AutoCloseable {
    /** The service's name. */
    String service();

    /** This instance's id, as given or as made by the client ({@code service-} and 10 hex digits). */
    String id();

    /** The service's virtual IP; empty for a {@code dnsrr} service. */
    Optional<String> vip();

    /**
     * Installs a JVM shutdown hook (once; a second call changes the drain): on SIGTERM, SIGINT or
     * {@code System.exit} it deregisters this instance, waits {@code drain} so consumers stop
     * sending (the data plane takes milliseconds; clients that cache DNS answers need the DNS TTL,
     * 5 s by default), then runs the {@link #onShutdown} actions in the order given and returns. If
     * the agent cannot be reached, it waits until the instance has expired (at most its TTL) instead.
     * Nothing of this runs if the instance was deregistered before, except the actions.
     *
     * @return this registration
     */
    Registration deregisterOnShutdown(Duration drain);

    /**
     * Runs {@code action} (e.g. stopping the application's server) in the shutdown hook, after the
     * deregistration and the drain; installs the hook with no drain if
     * {@link #deregisterOnShutdown} was not called. An action that throws is logged, and the next
     * one runs.
     *
     * @return this registration
     */
    Registration onShutdown(Runnable action);

    /**
     * Stops the heartbeats and removes the instance now (an instance the agent no longer knows
     * counts as removed); retries while the agent is away, like {@link Portolan#register}. A
     * second call does nothing.
     *
     * @throws PortolanException if the agent refused or could not be reached: the instance then
     *         expires with its TTL
     */
    void deregister();

    /** {@link #deregister()}, logging a failure instead of throwing it; does nothing the second time. */
    @Override
    void close();
}
