package io.portolan.proto;

/**
 * A routing-mesh port: traffic to any local address of any node on {@code published} reaches the
 * service's instances on their port {@code target}. Written {@code PUBLISHED:TARGET[/tcp|/udp]}.
 */
public record PublishedPort(int published, int target, Protocol protocol) {
    public PublishedPort {
        Validate.port("published port", published);
        Validate.port("published target port", target);
        if (protocol == null) {
            protocol = Protocol.TCP;
        }
    }

    public static PublishedPort parse(String field, String spec) {
        if (spec == null) {
            throw new ValidationException(field, null, "expected PUBLISHED:TARGET[/tcp|/udp]");
        }
        Protocol protocol = Protocol.ofSpec(field, spec);
        int slash = spec.indexOf('/');
        String rest = slash >= 0 ? spec.substring(0, slash) : spec;
        int colon = rest.indexOf(':');
        if (colon < 0) {
            int p = Port.parseNumber(field, spec, rest);
            return new PublishedPort(p, p, protocol);
        }
        return new PublishedPort(Port.parseNumber(field, spec, rest.substring(0, colon)),
                Port.parseNumber(field, spec, rest.substring(colon + 1)), protocol);
    }

    @Override
    public String toString() {
        return published + ":" + target + "/" + protocol.lower();
    }
}
