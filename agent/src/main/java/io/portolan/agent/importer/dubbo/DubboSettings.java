package io.portolan.agent.importer.dubbo;

import io.portolan.agent.config.Flags;
import io.portolan.proto.ValidationException;

/**
 * {@code --import dubbo [--dubbo-root ROOT]}: watch the keys Apache Dubbo's etcd3 registry writes, under
 * {@code /ROOT/} (interface level; Dubbo's default root, the registry URL's {@code group}, is {@code dubbo})
 * and {@code /services/} (application level), in the agent's etcd.
 *
 * @param rootPrefix {@code /ROOT/}, the interface-level keys' prefix
 */
public record DubboSettings(String rootPrefix) {
    public static final String DEFAULT_ROOT = "dubbo";
    /** The agent's flags these settings are read from. */
    public static final java.util.Set<String> FLAGS = java.util.Set.of("import", "dubbo-root");

    /**
     * The settings the flags ask for, or null without {@code --import}; a bad value is refused naming the flag.
     *
     * @param etcd        whether the agent runs on etcd (the embedded store has no Dubbo keys)
     * @param etcdPrefix  portolan's own prefix, which the Dubbo root must not overlap
     */
    public static DubboSettings fromFlags(Flags f, boolean etcd, String etcdPrefix) {
        java.util.List<String> imports = f.all("import");
        if (imports.isEmpty()) {
            if (f.has("dubbo-root")) {
                throw new ValidationException("--dubbo-root", f.get("dubbo-root", null), "only with --import dubbo");
            }
            return null;
        }
        for (String i : imports) {
            if (!i.equals("dubbo")) {
                throw new ValidationException("--import", i, "the registries portolan imports: dubbo");
            }
        }
        if (!etcd) {
            throw new ValidationException("--import", "dubbo", "needs --etcd-endpoints: Dubbo's keys are read from the etcd its providers register in");
        }
        String root = f.get("dubbo-root", DEFAULT_ROOT);
        String trimmed = root;
        while (trimmed.startsWith("/")) {
            trimmed = trimmed.substring(1);
        }
        while (trimmed.endsWith("/")) {
            trimmed = trimmed.substring(0, trimmed.length() - 1);
        }
        if (trimmed.isEmpty() || trimmed.length() > 200 || trimmed.contains("//")) {
            throw new ValidationException("--dubbo-root", root, "a path such as dubbo or /dubbo (Dubbo's registry group)");
        }
        for (int i = 0; i < trimmed.length(); i++) {
            char c = trimmed.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/')) {
                throw new ValidationException("--dubbo-root", root, "letters, digits, '.', '_', '-' and '/' only");
            }
        }
        String prefix = "/" + trimmed + "/";
        for (String other : new String[] {etcdPrefix, DubboKeys.APPLICATIONS_PREFIX}) {
            if (prefix.startsWith(other) || other.startsWith(prefix)) {
                throw new ValidationException("--dubbo-root", root, "its keys /" + trimmed + "/ would overlap " + other);
            }
        }
        return new DubboSettings(prefix);
    }

    /** The prefixes the importer reads (so its etcd role needs read on them). */
    public java.util.List<String> readPrefixes() {
        return java.util.List.of(rootPrefix, DubboKeys.APPLICATIONS_PREFIX);
    }
}
