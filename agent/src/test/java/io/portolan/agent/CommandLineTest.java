package io.portolan.agent;

import io.portolan.agent.cli.Commands;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.config.Flags;
import io.portolan.agent.testing.Cli;
import io.portolan.proto.Flag;
import io.portolan.proto.ValidationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code portolan --help}, {@code portolan COMMAND --help} and {@code portolan --version} as a user
 * runs them (a separate JVM: the exit code is the process's), and the flag tables behind them: every
 * flag a command's parser takes is in its help with a meaning, every flag its help lists is taken.
 */
class CommandLineTest {
    /** The flags a help text lists: {@code --name} at the start of a line, with the rest of the line. */
    static Map<String, String> listed(String help) {
        Map<String, String> out = new java.util.LinkedHashMap<>();
        Matcher m = Pattern.compile("(?m)^  --([a-z0-9-]+)(.*)$").matcher(help);
        while (m.find()) {
            out.put(m.group(1), m.group(2));
        }
        return out;
    }

    @Test
    void agentHelp_listsEveryFlagTheAgentParses_withMeaningAndDefault_exit0() throws Exception {
        Cli.Result r = Cli.run("agent", "--help");
        assertEquals(0, r.code(), r.output());
        Map<String, String> listed = listed(r.output());
        Set<String> parsed = new java.util.HashSet<>(AgentConfig.FLAGS);
        parsed.addAll(AgentConfig.SWITCHES);
        assertEquals(parsed, listed.keySet(), "the agent parses exactly the flags its help lists");
        for (Flag f : AgentConfig.TABLE) {
            int at = r.output().indexOf("  --" + f.name() + (f.isSwitch() ? "" : " " + f.value()));
            assertTrue(at >= 0, f.name());
            int next = r.output().indexOf("\n  --", at + 1);
            String rest = r.output().substring(at, next < 0 ? r.output().length() : next);
            assertTrue(rest.contains(f.meaning()), "--" + f.name() + " has its meaning in help");
            if (!f.dflt().isEmpty() && !f.isSwitch()) {
                assertTrue(rest.contains("[default: " + f.dflt() + "]"), "--" + f.name() + " shows its default");
            }
        }
        assertEquals("auto", Flag.named(AgentConfig.TABLE, "dataplane").dflt());
        assertTrue(listed.containsKey("nft-table") && listed.containsKey("lb-vip-device") && listed.containsKey("ipvs-device")
                && listed.containsKey("dns-zone"), "the modules' flags are listed too");
        // every flag listed is taken by the parser (a switch alone, the others with their value's default or a sample)
        for (Flag f : AgentConfig.TABLE) {
            String[] args = f.isSwitch() ? new String[] {"--" + f.name()} : new String[] {"--" + f.name(), "x"};
            try {
                Flags.parse(args, AgentConfig.FLAGS, AgentConfig.SWITCHES);
            } catch (ValidationException e) {
                throw new AssertionError("--" + f.name() + " listed in help but refused by the parser: " + e.getMessage());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"register", "deregister", "delete-service", "services"})
    void commandHelp_listsEveryFlagTheCommandParses_exit0(String cmd) throws Exception {
        Cli.Result r = Cli.run(cmd, "--help");
        assertEquals(0, r.code(), r.output());
        List<Flag> table = switch (cmd) {
            case "register" -> Commands.REGISTER_TABLE;
            case "deregister" -> Commands.DEREGISTER_TABLE;
            case "delete-service" -> Commands.DELETE_SERVICE_TABLE;
            default -> Commands.SERVICES_TABLE;
        };
        Map<String, String> listed = listed(r.output());
        List<String> names = new ArrayList<>();
        table.forEach(f -> names.add(f.name()));
        assertEquals(Set.copyOf(names), listed.keySet(), cmd);
        for (Flag f : table) {
            assertFalse(f.meaning().isBlank(), f.name());
            assertTrue(r.output().contains(f.meaning()), cmd + " --" + f.name());
        }
        // and the command refuses a flag its help does not list, naming it (exit 2)
        Cli.Result bad = Cli.run(cmd, "--no-such-flag", "1");
        assertEquals(2, bad.code(), bad.output());
        assertTrue(bad.output().contains("--no-such-flag"), bad.output());
    }

    @Test
    void register_helpAfterTheWrappedCommand_isTheCommands() throws Exception {
        assertFalse(Main.wantsHelp(new String[] {"--service", "web", "--", "python3", "--help"}));
        assertTrue(Main.wantsHelp(new String[] {"--service", "web", "--help"}));
    }

    @Test
    void overview_listsTheCommands_exit0_andNothing_exit2() throws Exception {
        Cli.Result r = Cli.run("--help");
        assertEquals(0, r.code(), r.output());
        for (String c : List.of("agent", "register", "deregister", "delete-service", "services", "--version")) {
            assertTrue(r.output().contains(c), c);
        }
        Cli.Result none = Cli.run();
        assertEquals(2, none.code(), none.output());
        assertTrue(none.output().contains("usage: portolan"), none.output());
    }

    @Test
    void version_isTheMavenProjectVersion() throws Exception {
        String pom = Files.readString(Path.of("pom.xml"));
        Matcher m = Pattern.compile("<artifactId>portolan-parent</artifactId>\\s*<version>([^<]+)</version>").matcher(pom);
        assertTrue(m.find(), "the parent's version in agent/pom.xml");
        Cli.Result r = Cli.run("--version");
        assertEquals(0, r.code(), r.output());
        assertEquals("portolan " + m.group(1), r.output().strip());
    }

    @Test
    void dataplane_unknownValue_exit2_namingFlagAndValue() throws Exception {
        Cli.Result r = Cli.run("agent", "--dataplane", "kernel", "--dns-listen", "none", "--admin-listen", "127.0.0.1:0");
        assertEquals(2, r.code(), r.output());
        assertTrue(r.output().contains("--dataplane") && r.output().contains("kernel") && r.output().contains("auto"), r.output());
        Path conf = Files.createTempFile("dataplane", ".conf");
        Files.writeString(conf, "dataplane = kernel\n");
        Cli.Result c = Cli.run("agent", "--config", conf.toString(), "--dns-listen", "none", "--admin-listen", "127.0.0.1:0");
        assertEquals(2, c.code(), c.output());
        assertTrue(c.output().contains("--dataplane") && c.output().contains("kernel"), c.output());
        assertThrows(ValidationException.class, () -> AgentConfig.parse(new String[] {"--dataplane", "Auto"}));
        assertEquals("auto", AgentConfig.parse(new String[] {"--advertise-address", "10.0.0.1"}).dataplane(), "the default");
    }

    @Test
    void nftTable_nftKeyword_exit2_namingFlagAndValue() throws Exception {
        // "ct" passes the name grammar, but nft reads it as a keyword: every nft command naming the table would fail
        Cli.Result r = Cli.run("agent", "--dataplane", "nftables", "--nft-table", "ct", "--dns-listen", "none", "--admin-listen", "127.0.0.1:0");
        assertEquals(2, r.code(), r.output());
        assertTrue(r.output().contains("--nft-table 'ct': an nft keyword"), r.output());
    }
}
