package io.portolan.proto;

import java.net.InetAddress;

/**
 * A host running an agent, as its agent announces it under its own lease: its name
 * ({@code --node}) and its advertise address, the one other hosts reach it at (host ports of
 * instances in containers are on that address).
 */
public record Node(String name, InetAddress address, Extras extras) {
    public Node {
        Validate.id("node", name);
        if (address == null) {
            throw new ValidationException("address", null, "a node's advertise address is required");
        }
        extras = extras == null ? Extras.NONE : extras;
    }

    public Node(String name, InetAddress address) {
        this(name, address, Extras.NONE);
    }
}
