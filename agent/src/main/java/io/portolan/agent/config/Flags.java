package io.portolan.agent.config;

import io.portolan.proto.ValidationException;
import io.portolan.proto.Validate;
import io.portolan.proto.Values;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.Reader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Command-line flags ({@code --name value}, {@code --name=value}, repeatable flags, boolean
 * switches, and everything after {@code --} as a command), merged over an optional config file
 * whose keys are the flag names without dashes (flags win). Every parse error names the flag and
 * the value.
 */
public final class Flags {
    private static final Logger log = LoggerFactory.getLogger(Flags.class);
    private final Map<String, List<String>> values = new LinkedHashMap<>();
    private final List<String> command = new ArrayList<>();

    private Flags() {
    }

    /**
     * @param known    flags that take a value
     * @param switches flags that take none
     */
    public static Flags parse(String[] args, Set<String> known, Set<String> switches) {
        Flags f = new Flags();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) {
                for (int j = i + 1; j < args.length; j++) {
                    f.command.add(args[j]);
                }
                break;
            }
            if (!a.startsWith("--") || a.length() == 2) {
                throw new ValidationException("argument", a, "expected a --flag (commands to run go after --)");
            }
            String name = a.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (switches.contains(name)) {
                if (value != null && !value.equals("true") && !value.equals("false")) {
                    throw new ValidationException("--" + name, value, "a switch takes no value (or true/false)");
                }
                f.values.computeIfAbsent(name, k -> new ArrayList<>()).add(value == null ? "true" : value);
                continue;
            }
            if (!known.contains(name)) {
                throw new ValidationException("flag", "--" + name, "unknown flag; known: " + String.join(", ", sorted(known, switches)));
            }
            if (value == null) {
                if (i + 1 >= args.length) {
                    throw new ValidationException("--" + name, null, "needs a value");
                }
                value = args[++i];
            }
            f.values.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return f;
    }

    private static List<String> sorted(Set<String> a, Set<String> b) {
        List<String> all = new ArrayList<>();
        a.forEach(x -> all.add("--" + x));
        b.forEach(x -> all.add("--" + x));
        all.sort(null);
        return all;
    }

    /** Adds the config file's keys for every flag not given on the command line. */
    public void mergeConfigFile(Path file, Set<String> known, Set<String> switches) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            throw new ValidationException("--config", file, "cannot read it: " + e.getMessage());
        }
        for (String key : p.stringPropertyNames()) {
            if (!known.contains(key) && !switches.contains(key)) {
                throw new ValidationException("config key", key, "unknown key in " + file + " (keys are the flag names without --)");
            }
            if (!values.containsKey(key)) {
                values.put(key, List.of(p.getProperty(key).trim()));
            }
        }
    }

    public List<String> command() {
        return command;
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    public String get(String name, String dflt) {
        List<String> v = values.get(name);
        return v == null ? dflt : v.get(v.size() - 1);
    }

    public String required(String name) {
        String v = get(name, null);
        if (v == null || v.isEmpty()) {
            throw new ValidationException("--" + name, v, "required");
        }
        return v;
    }

    /** All values of a repeatable flag, each also split on commas. */
    public List<String> all(String name) {
        List<String> out = new ArrayList<>();
        for (String v : values.getOrDefault(name, List.of())) {
            for (String part : v.split(",")) {
                if (!part.isBlank()) {
                    out.add(part.trim());
                }
            }
        }
        return out;
    }

    /** All values of a repeatable flag, not split. */
    public List<String> raw(String name) {
        return values.getOrDefault(name, List.of());
    }

    public boolean bool(String name) {
        return "true".equals(get(name, "false"));
    }

    /** A whole number in {@code [min, max]}, or {@code dflt} when the flag is absent. */
    public long number(String name, long dflt, long min, long max) {
        String v = get(name, null);
        return v == null ? dflt : Values.integer("--" + name, v, min, max);
    }

    /** A whole number without a range of its own (the caller checks it), naming {@code flag} when it is none. */
    public static long number(String flag, String s) {
        return Values.integer(flag, s, Long.MIN_VALUE, Long.MAX_VALUE);
    }

    /** A duration in {@code [min, max]} ({@link Values#duration}), or {@code dflt} when the flag is absent. */
    public Duration duration(String name, Duration dflt, Duration min, Duration max) {
        String v = get(name, null);
        return v == null ? dflt : Values.duration("--" + name, v, min, max);
    }

    /**
     * {@link #duration}, also read from {@code oldName}, the flag's former spelling with its unit in the name
     * ({@code --etcd-timeout-ms 3000}, {@code --drain-seconds 2}): still accepted, with a deprecation warning.
     */
    public Duration duration(String name, String oldName, ChronoUnit oldUnit, Duration dflt, Duration min, Duration max) {
        if (has(name) || !has(oldName)) {
            return duration(name, dflt, min, max);
        }
        String v = get(oldName, null);
        long n = Values.integer("--" + oldName, v, 0, Long.MAX_VALUE / 1_000_000_000L);
        Duration d = Duration.of(n, oldUnit);
        String now = Values.text(d);
        log.warn("--{} is deprecated and will go: use --{} {}", oldName, name, now);
        return Values.duration("--" + oldName, now, min, max);
    }

    // ---- value parsers shared by the commands --------------------------------------------

    /** {@code http://host:port,...}; http or https, a host and a port. */
    public static List<URI> endpoints(String flag, List<String> specs) {
        List<URI> out = new ArrayList<>();
        for (String s : specs) {
            URI u;
            try {
                u = new URI(s);
            } catch (URISyntaxException e) {
                throw new ValidationException(flag, s, "not a URL (expected http://HOST:PORT)");
            }
            if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
                throw new ValidationException(flag, s, "expected an http:// or https:// URL");
            }
            if (u.getHost() == null || u.getPort() < 1 || u.getPort() > 65535) {
                throw new ValidationException(flag, s, "expected HOST:PORT, e.g. http://127.0.0.1:2379");
            }
            out.add(u);
        }
        return out;
    }

    /** {@code ADDR:PORT} or {@code [V6]:PORT}, the address a literal. */
    public static InetSocketAddress hostPort(String flag, String s) {
        if (s == null || s.isEmpty()) {
            throw new ValidationException(flag, s, "expected ADDRESS:PORT, e.g. 127.0.0.1:9190");
        }
        String host;
        String port;
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            if (close < 0 || close + 1 >= s.length() || s.charAt(close + 1) != ':') {
                throw new ValidationException(flag, s, "expected [IPV6]:PORT");
            }
            host = s.substring(1, close);
            port = s.substring(close + 2);
        } else {
            int colon = s.lastIndexOf(':');
            if (colon < 0 || s.indexOf(':') != colon) {
                throw new ValidationException(flag, s, "expected ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)");
            }
            host = s.substring(0, colon);
            port = s.substring(colon + 1);
        }
        InetAddress a;
        try {
            a = Validate.address(flag, host);
        } catch (ValidationException e) {
            throw new ValidationException(flag, s, "the address is not an IP literal");
        }
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            throw new ValidationException(flag, s, "the port is not a number");
        }
        if (p < 0 || p > 65535) {
            throw new ValidationException(flag, s, "the port must be 0-65535");
        }
        return new InetSocketAddress(a, p);
    }

    /** An agent URL: http://ADDRESS:PORT, no path. */
    public static URI agentUrl(String flag, String s) {
        List<URI> u = endpoints(flag, List.of(s));
        URI uri = u.get(0);
        if (uri.getPath() != null && !uri.getPath().isEmpty() && !uri.getPath().equals("/")) {
            throw new ValidationException(flag, s, "expected http://HOST:PORT without a path");
        }
        return URI.create(uri.getScheme() + "://" + uri.getRawAuthority());
    }
}
