package io.portolan.proto;

/**
 * Where things live in etcd, under one prefix (default {@code /portolan/}):
 * <pre>
 *   PREFIX services/NAME          Service JSON (plain key)
 *   PREFIX instances/NAME/ID      Instance JSON (under the registrant's lease)
 *   PREFIX vips/ADDRESS           the owning service's name (VIP allocation, create-if-absent)
 *   PREFIX nodes/NAME             Node JSON: a host's agent and its advertise address (under the agent's lease)
 * </pre>
 */
public final class KeyLayout {
    public static final String DEFAULT_PREFIX = "/portolan/";

    public enum Kind { SERVICE, INSTANCE, VIP, NODE }

    /** A parsed key: for SERVICE {@code service} is set; for INSTANCE both; for VIP {@code vip}; for NODE {@code id} (the node's name). */
    public record Key(Kind kind, String service, String id, String vip) {
    }

    private final String prefix;

    public KeyLayout(String prefix) {
        if (prefix == null || prefix.isEmpty() || !prefix.startsWith("/") || !prefix.endsWith("/") || prefix.contains("//")) {
            throw new ValidationException("prefix", prefix, "an etcd prefix starts and ends with '/', e.g. /portolan/");
        }
        for (int i = 0; i < prefix.length(); i++) {
            char c = prefix.charAt(i);
            if (c < 0x21 || c > 0x7e) {
                throw new ValidationException("prefix", prefix, "printable ASCII without spaces only");
            }
        }
        this.prefix = prefix;
    }

    public String prefix() {
        return prefix;
    }

    public String servicesPrefix() {
        return prefix + "services/";
    }

    public String instancesPrefix() {
        return prefix + "instances/";
    }

    public String instancesPrefix(String service) {
        return prefix + "instances/" + Validate.serviceName("service", service) + "/";
    }

    public String vipsPrefix() {
        return prefix + "vips/";
    }

    public String nodesPrefix() {
        return prefix + "nodes/";
    }

    public String nodeKey(String name) {
        return nodesPrefix() + Validate.id("node", name);
    }

    public String serviceKey(String name) {
        return servicesPrefix() + Validate.serviceName("service", name);
    }

    public String instanceKey(String service, String id) {
        return instancesPrefix(service) + Validate.id("id", id);
    }

    public String vipKey(java.net.InetAddress vip) {
        return vipsPrefix() + vip.getHostAddress();
    }

    /** Parses a key under the prefix; throws {@link ValidationException} naming the key if it fits no pattern. */
    public Key parse(String key) {
        if (key == null || !key.startsWith(prefix)) {
            throw new ValidationException("key", key, "not under prefix " + prefix);
        }
        String rest = key.substring(prefix.length());
        try {
            if (rest.startsWith("services/")) {
                String name = rest.substring("services/".length());
                return new Key(Kind.SERVICE, Validate.serviceName("service", name), null, null);
            }
            if (rest.startsWith("instances/")) {
                String tail = rest.substring("instances/".length());
                int slash = tail.indexOf('/');
                if (slash < 0) {
                    throw new ValidationException("key", key, "expected " + prefix + "instances/SERVICE/ID");
                }
                return new Key(Kind.INSTANCE, Validate.serviceName("service", tail.substring(0, slash)),
                        Validate.id("id", tail.substring(slash + 1)), null);
            }
            if (rest.startsWith("nodes/")) {
                return new Key(Kind.NODE, null, Validate.id("node", rest.substring("nodes/".length())), null);
            }
            if (rest.startsWith("vips/")) {
                String vip = rest.substring("vips/".length());
                Validate.address("vip", vip);
                return new Key(Kind.VIP, null, null, vip);
            }
        } catch (ValidationException e) {
            throw new ValidationException("key", key, e.getMessage());
        }
        throw new ValidationException("key", key, "unknown key kind (expected services/, instances/, nodes/ or vips/)");
    }
}
