package io.portolan.lb;

import io.micrometer.core.instrument.MeterRegistry;
import io.portolan.proto.Cidr;
import io.portolan.proto.Flag;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/**
 * One kind of data plane, as the agent sees it: its name ({@code --dataplane NAME}), the flags it
 * owns (a table of names without dashes, defaults and meanings, which the agent both parses and
 * prints in {@code --help}), and what to do with them. Every function takes the flags given, by
 * name; entries that are not its own are another module's and ignored.
 *
 * @param flagTable the kind's flags: add a row here to add a flag (and parse it in {@code check})
 * @param check     parses the flags and throws a {@code ValidationException} naming a bad flag and value
 * @param probe     whether the kind can run on this host ({@code --dataplane auto} tries the kinds in
 *                  {@link DataPlanes#AUTO_ORDER}); it really tries what the kind needs and changes nothing
 * @param create    starts the plane
 * @param cleanup   removes everything a plane of this kind made on this host, and nothing else
 *                  ({@code portolan agent --cleanup}); a no-op where its tools are absent
 */
public record DataPlaneKind(String name, List<Flag> flagTable, Consumer<Map<String, String>> check, Probe probe,
                            BiFunction<Map<String, String>, MeterRegistry, DataPlane> create,
                            Consumer<Map<String, String>> cleanup) {
    public DataPlaneKind {
        flagTable = List.copyOf(flagTable);
    }

    /** The names of the kind's flags, without dashes. */
    public Set<String> flags() {
        return Flag.valueNames(flagTable);
    }

    /** Can a plane of this kind work here? */
    @FunctionalInterface
    public interface Probe {
        /**
         * @param flags   the flags given (the kind's own among them)
         * @param vipCidr the VIP pool the agent hands out from
         * @return null when the kind can run on this host, else why not, in one line an operator can act on
         */
        String whyNot(Map<String, String> flags, Cidr vipCidr);
    }
}
