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
        String rest = spec;
        Protocol protocol = Protocol.TCP;
        int slash = rest.indexOf('/');
        if (slash >= 0) {
            try {
                protocol = Protocol.parse(field, rest.substring(slash + 1));
            } catch (ValidationException e) {
                throw new ValidationException(field, spec, "the protocol after '/' is tcp or udp");
            }
            rest = rest.substring(0, slash);
        }
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
