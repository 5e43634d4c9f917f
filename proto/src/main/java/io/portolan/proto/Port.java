package io.portolan.proto;

/**
 * A named port. {@code name} is empty for an unnamed port (no SRV record is published for it).
 * Written on the command line as {@code [NAME:]PORT[/tcp|/udp]}.
 */
public record Port(String name, int number, Protocol protocol) {
    public Port {
        name = Validate.portName("port name", name);
        Validate.port("port", number);
        if (protocol == null) {
            protocol = Protocol.TCP;
        }
    }

    public static Port parse(String field, String spec) {
        if (spec == null || spec.isEmpty()) {
            throw new ValidationException(field, spec, "expected [NAME:]PORT[/tcp|/udp], e.g. http:8080/tcp");
        }
        Protocol protocol = Protocol.ofSpec(field, spec);
        int slash = spec.indexOf('/');
        String rest = slash >= 0 ? spec.substring(0, slash) : spec;
        String name = "";
        int colon = rest.indexOf(':');
        if (colon >= 0) {
            name = rest.substring(0, colon);
            rest = rest.substring(colon + 1);
            if (name.isEmpty()) {
                throw new ValidationException(field, spec, "empty port name before ':'");
            }
        }
        int number = parseNumber(field, spec, rest);
        try {
            return new Port(name, number, protocol);
        } catch (ValidationException e) {
            throw new ValidationException(field, spec, e.getMessage());
        }
    }

    static int parseNumber(String field, String spec, String digits) {
        if (digits.isEmpty() || digits.length() > 5) {
            throw new ValidationException(field, spec, "a port is a number 1-65535");
        }
        int n = 0;
        for (int i = 0; i < digits.length(); i++) {
            char c = digits.charAt(i);
            if (c < '0' || c > '9') {
                throw new ValidationException(field, spec, "a port is a number 1-65535");
            }
            n = n * 10 + (c - '0');
        }
        return Validate.port(field, n);
    }

    @Override
    public String toString() {
        return (name.isEmpty() ? "" : name + ":") + number + "/" + protocol.lower();
    }
}
