package io.portolan.lb;

import io.micrometer.core.instrument.MeterRegistry;

import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Consumer;

/**
 * One kind of data plane, as the agent sees it: its name ({@code --dataplane NAME}), the flags it
 * owns (names without dashes), and what to do with them. Every function takes the flags given,
 * by name; entries that are not its own are another module's and ignored.
 *
 * @param check   parses the flags and throws a {@code ValidationException} naming a bad flag and value
 * @param create  starts the plane
 * @param cleanup removes everything a plane of this kind made on this host, and nothing else
 *                ({@code portolan agent --cleanup}); a no-op where its tools are absent
 */
public record DataPlaneKind(String name, Set<String> flags, Consumer<Map<String, String>> check,
                            BiFunction<Map<String, String>, MeterRegistry, DataPlane> create,
                            Consumer<Map<String, String>> cleanup) {
    public DataPlaneKind {
        flags = Set.copyOf(flags);
    }
}
