package io.portolan.agent;

import io.portolan.agent.cli.Commands;
import io.portolan.agent.config.AgentConfig;
import io.portolan.dns.DnsConfig;
import io.portolan.lb.DataPlaneKind;
import io.portolan.lb.DataPlanes;
import io.portolan.proto.Flag;

import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * {@code portolan --help}, {@code portolan COMMAND --help} and {@code portolan --version}. Every
 * flag's line comes from the flag table its parser reads ({@link AgentConfig#OWN_TABLE},
 * {@link DnsConfig#FLAG_TABLE}, each data plane kind's, {@link Commands}' tables), so help cannot
 * list a flag the parser refuses or leave out one it takes.
 */
final class Help {
    private Help() {
    }

    static final String NOTES = String.join("\n",
            "Durations carry a unit (250ms, 5s, 2m, 1h); TTLs are whole seconds; sizes take k, m, g.",
            "Exit codes: 0 ok, 1 the operation failed, 2 bad input (the message names the flag and value).",
            "");

    /** The commands and one line each, for {@code portolan --help}. */
    static final Map<String, String> COMMANDS = new java.util.LinkedHashMap<>(Map.of());

    static {
        COMMANDS.put("agent", "run the node agent: registry, DNS, VIPs");
        COMMANDS.put("register", "register an instance (and run COMMAND after --, deregistering when it ends)");
        COMMANDS.put("deregister", "remove an instance");
        COMMANDS.put("delete-service", "remove a service, its instances and its VIP");
        COMMANDS.put("services", "list the services and instances the agent serves");
    }

    /** {@code portolan --help}. */
    static String overview() {
        StringBuilder b = new StringBuilder("usage: portolan COMMAND [--flag VALUE]... | portolan --version\n\ncommands:\n");
        COMMANDS.forEach((c, m) -> b.append(String.format("  %-15s %s%n", c, m)));
        b.append("\n'portolan COMMAND --help' lists the command's flags with their defaults.\n").append(NOTES);
        return b.toString();
    }

    /** {@code portolan COMMAND --help}, or null for an unknown command. */
    static String command(String cmd) {
        return switch (cmd) {
            case "agent" -> agent();
            case "register" -> section("usage: portolan register --service NAME --port [NAME:]PORT ... [-- COMMAND ARGS...]",
                    Commands.REGISTER_TABLE);
            case "deregister" -> section("usage: portolan deregister --service NAME --id ID", Commands.DEREGISTER_TABLE);
            case "delete-service" -> section("usage: portolan delete-service --service NAME", Commands.DELETE_SERVICE_TABLE);
            case "services" -> section("usage: portolan services [--agent URL] [--json]", Commands.SERVICES_TABLE);
            default -> null;
        };
    }

    private static String section(String usage, List<Flag> table) {
        return usage + "\n\nflags:\n" + Flag.help(table) + "\n" + NOTES;
    }

    private static String agent() {
        StringBuilder b = new StringBuilder("usage: portolan agent [--flag VALUE]...\n"
                + "Every flag is also a key of the --config file (its name without --); a flag on the command line wins.\n\n");
        b.append("agent:\n").append(Flag.help(AgentConfig.OWN_TABLE));
        b.append("\nDNS server (dns/README.md):\n").append(Flag.help(DnsConfig.FLAG_TABLE));
        for (DataPlaneKind k : DataPlanes.all()) {
            b.append("\ndata plane ").append(k.name()).append(" (with --dataplane ").append(k.name()).append(", lb/README.md):\n")
                    .append(Flag.help(k.flagTable()));
        }
        return b.append('\n').append(NOTES).toString();
    }

    /** The project version this jar was built from (agent/pom.xml, through resource filtering). */
    static String version() {
        Properties p = new Properties();
        try (InputStream in = Help.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // fall through to the manifest
        }
        String v = p.getProperty("version");
        if (v == null || v.startsWith("${")) {
            v = Help.class.getPackage().getImplementationVersion();
        }
        return v == null ? "unknown" : v;
    }
}
