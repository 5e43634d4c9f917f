package io.portolan.agent.client;

import com.sun.net.httpserver.HttpServer;
import io.portolan.client.Portolan;
import io.portolan.client.Registration;
import io.portolan.client.Service;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * An application as one is written with the client: a JDK HttpServer answering its instance id,
 * registered through the agent at {@code $PORTOLAN_AGENT}. {@link ClientAppTest} runs it from this
 * source file with the JDK's source launcher and the client jar as the whole classpath:
 * <pre>
 *   java -cp portolan-client.jar ClientApp.java SERVICE ID ADDRESS PORT TTL_SECONDS DRAIN_MS hook|nohook
 * </pre>
 * {@code hook}: the client's order on SIGTERM (deregister, drain, then the server's stop, given to
 * {@code onShutdown}). {@code nohook}: the naive order the client exists to prevent, the server
 * stopped by a shutdown hook of its own while the instance is still registered (the control).
 * Prints {@code registered SERVICE/ID vip VIP}, then {@code stopping server} and {@code server stopped}.
 */
public final class ClientApp {
    private ClientApp() {
    }

    public static void main(String[] args) throws Exception {
        String service = args[0];
        String id = args[1];
        String address = args[2];
        int port = Integer.parseInt(args[3]);
        Duration ttl = Duration.ofSeconds(Integer.parseInt(args[4]));
        Duration drain = Duration.ofMillis(Long.parseLong(args[5]));
        boolean hook = args[6].equals("hook");
        say("classpath " + System.getProperty("java.class.path"));

        ExecutorService pool = Executors.newFixedThreadPool(4);
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getByName(address), port), 128);
        server.setExecutor(pool);
        server.createContext("/", ex -> {
            byte[] body = id.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
            ex.close();
        });
        server.start();
        Runnable stop = () -> {
            say("stopping server");
            server.stop(1);
            pool.shutdown();
            say("server stopped");
        };

        Registration web = Portolan.agent()
                .register(Service.named(service).port("http", port).address(address).id(id).ttl(ttl));
        if (hook) {
            web.deregisterOnShutdown(drain).onShutdown(stop);
        } else {
            Runtime.getRuntime().addShutdownHook(new Thread(stop));
        }
        say("registered " + web.service() + "/" + web.id() + " vip " + web.vip().orElse("-"));
        new CountDownLatch(1).await(); // serve until the JVM is stopped
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
