package io.portolan.agent;

import io.portolan.agent.cli.Commands;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.registry.RegistryUnavailableException;
import io.portolan.agent.registry.etcd.EtcdRefusedException;
import io.portolan.proto.ValidationException;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.slf4j.LoggerFactory;

/**
 * {@code portolan agent|register|deregister|services|delete-service ...}, {@code portolan --version},
 * {@code portolan [COMMAND] --help} (generated from the flag tables, {@link Help}). Exit codes: 0 ok, 1 the
 * operation failed (store unreachable, not found), 2 bad input (the message names the value).
 */
public final class Main {
    private Main() {
    }

    /** What a mistyped command line gets: the commands, and where to look next. */
    static String usage() {
        return Help.overview();
    }

    public static void main(String[] args) {
        if (args.length > 0) {
            configureLogging(args[0], Arrays.copyOfRange(args, 1, args.length));
        }
        System.exit(run(args));
    }

    /** Runs one command and returns its exit code (tests call this in-process). */
    public static int run(String[] args) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            String topic = args.length > 1 ? Help.command(args[1]) : null;
            (args.length == 0 ? System.err : System.out).print(topic != null ? topic : usage());
            return args.length == 0 ? 2 : 0;
        }
        if (args[0].equals("--version") || args[0].equals("version")) {
            System.out.println("portolan " + Help.version());
            return 0;
        }
        String cmd = args[0];
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        if (wantsHelp(rest) && Help.command(cmd) != null) {
            System.out.print(Help.command(cmd));
            return 0;
        }
        int code;
        try {
            code = switch (cmd) {
                case "agent" -> agent(rest);
                case "register" -> Commands.register(rest);
                case "deregister" -> Commands.deregister(rest);
                case "delete-service" -> Commands.deleteService(rest);
                case "services" -> Commands.services(rest, System.out);
                default -> {
                    System.err.print("portolan: unknown command '" + cmd + "'\n" + usage());
                    yield 2;
                }
            };
        } catch (ValidationException e) {
            System.err.println("portolan: " + e.getMessage());
            code = 2;
        } catch (EtcdRefusedException e) {
            System.err.println("portolan: " + e.getMessage());
            code = 1;
        } catch (RegistryUnavailableException e) {
            System.err.println("portolan: " + e.getMessage());
            code = 1;
        } catch (IllegalStateException e) {
            // a component that cannot work on this host (e.g. --dataplane ipvs without IPVS): its own words
            System.err.println("portolan: " + e.getMessage());
            code = 1;
        } catch (Exception e) {
            System.err.println("portolan: " + e);
            code = 1;
        }
        return code;
    }

    /** {@code --help} or {@code -h} among a command's flags (before {@code --}, after which the wrapped command's begin). */
    static boolean wantsHelp(String[] args) {
        for (String a : args) {
            if (a.equals("--")) {
                return false;
            }
            if (a.equals("--help") || a.equals("-h")) {
                return true;
            }
        }
        return false;
    }

    private static int agent(String[] args) throws Exception {
        AgentConfig config = AgentConfig.parse(args);
        if (config.cleanup()) {
            Agent.cleanup(config);
            return 0;
        }
        // Socket activation: the DNS sockets systemd holds across restarts (deploy/systemd/portolan.socket).
        Map<Integer, String> inherited = Systemd.listenFds(System.getenv(), ProcessHandle.current().pid());
        Agent agent = Agent.start(config, List.copyOf(inherited.keySet()));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            agent.close();
            stopped.countDown();
        }, "shutdown"));
        awaitReady(agent);
        Systemd.notifyReady();
        stopped.await();
        return 0;
    }

    /**
     * Tells systemd the agent is up only once it answers from the registry (its first listing loaded,
     * DNS compiled), so that a restart under socket activation hands the queued queries to an agent
     * that knows the names; after 30 s without the store it reports ready anyway (DNS forwarding
     * works, and a service that never becomes ready would be restarted in a loop).
     */
    private static void awaitReady(Agent agent) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!agent.ready() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        if (!agent.ready()) {
            LoggerFactory.getLogger(Main.class).warn("the registry is not loaded after 30 s; reporting ready to serve what can be served");
        }
    }

    /** slf4j-simple reads its settings once, at the first logger: set them before anything logs. */
    private static void configureLogging(String cmd, String[] args) {
        String level = cmd.equals("agent") ? "info" : "warn";
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--log-level") && i + 1 < args.length) {
                level = args[i + 1];
            } else if (args[i].startsWith("--log-level=")) {
                level = args[i].substring("--log-level=".length());
            } else if (args[i].equals("--")) {
                break;
            }
        }
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", level);
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSZ");
        System.setProperty("org.slf4j.simpleLogger.showThreadName", "false");
        System.setProperty("org.slf4j.simpleLogger.log.io.grpc", "warn");
        System.setProperty("org.slf4j.simpleLogger.log.io.netty", "warn");
        System.setProperty("org.slf4j.simpleLogger.log.io.vertx", "warn");
        System.setProperty("org.slf4j.simpleLogger.log.io.etcd", "warn");
        java.util.logging.LogManager.getLogManager().reset();
        org.slf4j.bridge.SLF4JBridgeHandler.install();
    }
}
