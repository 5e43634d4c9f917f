/**
 * Registering a Java application with its node's portolan agent, on the JDK alone
 * ({@code java.net.http}): {@link io.portolan.client.Portolan} (the agent),
 * {@link io.portolan.client.Service} (what to register), {@link io.portolan.client.Registration}
 * (the registered instance: heartbeats, deregistration, the shutdown order) and
 * {@link io.portolan.client.PortolanException}. Everything else is package-private.
 *
 * <pre>{@code
 * HttpServer server = HttpServer.create(new InetSocketAddress(8080), 0);
 * server.start();
 * Portolan.agent()
 *         .register(Service.named("web").port("http", 8080).ttl(Duration.ofSeconds(10)))
 *         .deregisterOnShutdown(Duration.ofSeconds(2))   // SIGTERM: deregister, drain 2 s,
 *         .onShutdown(() -> server.stop(1));             // then stop the server
 * }</pre>
 */
package io.portolan.client;
