package io.portolan.proto;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One row of a flag table: a flag's name (without dashes; also its config-file key), the kind of
 * value it takes, its default and one line of meaning. Each module keeps the table of its own flags
 * ({@code AgentConfig}, {@code DnsConfig.FLAG_TABLE}, each data plane kind's), and the same table
 * feeds both the parser (the names it accepts) and {@code --help} (what it prints), so the two
 * cannot drift. Adding a flag is adding a row.
 *
 * @param name    without dashes, e.g. {@code dns-zone}
 * @param value   what the value looks like in help ({@code ZONE}, {@code ADDR:PORT,...}, a duration
 *                {@code DURATION}); null for a switch, which takes none
 * @param dflt    the default as a user would type it ({@code 3s}), or a description in parentheses
 *                ({@code (the kernel's hostname)}); null or empty when there is none
 * @param meaning one line: what the flag does
 */
public record Flag(String name, String value, String dflt, String meaning) {
    public Flag {
        if (name == null || !name.matches("[a-z][a-z0-9-]*")) {
            throw new IllegalArgumentException("flag name " + name);
        }
        if (meaning == null || meaning.isBlank() || meaning.contains("\n")) {
            throw new IllegalArgumentException("--" + name + ": the meaning is one line");
        }
        dflt = dflt == null ? "" : dflt;
    }

    /** A flag that takes a value. */
    public static Flag of(String name, String value, String dflt, String meaning) {
        return new Flag(name, value, dflt, meaning);
    }

    /** A switch: present or absent (or {@code --name=true|false}). */
    public static Flag toggle(String name, String meaning) {
        return new Flag(name, null, "off", meaning);
    }

    public boolean isSwitch() {
        return value == null;
    }

    /** Whether {@link #dflt} is a value the parser takes (not a description in parentheses, not empty). */
    public boolean literalDefault() {
        return !dflt.isEmpty() && !dflt.startsWith("(") && !isSwitch();
    }

    /** The names of the flags that take a value. */
    public static Set<String> valueNames(List<Flag> table) {
        Set<String> out = new LinkedHashSet<>();
        table.stream().filter(f -> !f.isSwitch()).forEach(f -> out.add(f.name()));
        return Set.copyOf(out);
    }

    /** The names of the switches. */
    public static Set<String> switchNames(List<Flag> table) {
        Set<String> out = new LinkedHashSet<>();
        table.stream().filter(Flag::isSwitch).forEach(f -> out.add(f.name()));
        return Set.copyOf(out);
    }

    /** The row called {@code name}; an unknown name is a programming error. */
    public static Flag named(List<Flag> table, String name) {
        for (Flag f : table) {
            if (f.name().equals(name)) {
                return f;
            }
        }
        throw new IllegalArgumentException("no flag " + name + " in this table");
    }

    /** The rows of several tables in order, each name once (the first table that has it wins). */
    @SafeVarargs
    public static List<Flag> concat(List<Flag>... tables) {
        List<Flag> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        for (List<Flag> t : tables) {
            for (Flag f : t) {
                if (seen.add(f.name())) {
                    out.add(f);
                }
            }
        }
        return List.copyOf(out);
    }

    /**
     * Help text for {@code table}: one line per flag, {@code --name VALUE} in a column, then the
     * meaning and the default. Plain text, no I/O: the caller prints it.
     */
    public static String help(List<Flag> table) {
        int width = 0;
        for (Flag f : table) {
            width = Math.max(width, usage(f).length());
        }
        width = Math.min(width, 34);
        StringBuilder b = new StringBuilder();
        for (Flag f : table) {
            String u = usage(f);
            b.append("  ").append(u);
            if (u.length() > width) {
                b.append('\n').append(" ".repeat(width + 2));
            } else {
                b.append(" ".repeat(width - u.length()));
            }
            b.append("  ").append(f.meaning());
            if (!f.dflt().isEmpty() && !f.isSwitch()) {
                b.append(" [default: ").append(f.dflt()).append(']');
            }
            b.append('\n');
        }
        return b.toString();
    }

    private static String usage(Flag f) {
        return "--" + f.name() + (f.isSwitch() ? "" : " " + f.value());
    }
}
