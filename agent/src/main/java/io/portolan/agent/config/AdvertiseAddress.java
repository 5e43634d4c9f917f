package io.portolan.agent.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.lb.host.Exec;
import io.portolan.proto.Validate;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;

/**
 * The default of {@code --advertise-address}: the address other hosts reach this one at, taken as
 * the kernel's preferred source address of the route to the default gateway ({@code ip route get
 * GATEWAY}: a route look-up, no packet is sent); without a default route, the first global IPv4
 * address; without one, loopback, with a warning that other hosts cannot reach this one.
 */
final class AdvertiseAddress {
    private static final Logger log = LoggerFactory.getLogger(AdvertiseAddress.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    private AdvertiseAddress() {
    }

    static InetAddress detect(Exec exec) {
        try {
            JsonNode routes = json(exec, List.of("ip", "-j", "route", "show", "default"));
            for (JsonNode r : routes) {
                String gateway = r.path("gateway").asText("");
                if (!gateway.isEmpty()) {
                    for (JsonNode g : json(exec, List.of("ip", "-j", "route", "get", Validate.address("gateway", gateway).getHostAddress()))) {
                        String src = g.path("prefsrc").asText("");
                        if (!src.isEmpty()) {
                            return Validate.unicast("prefsrc", src);
                        }
                    }
                }
            }
            for (JsonNode link : json(exec, List.of("ip", "-j", "-4", "addr", "show", "scope", "global"))) {
                for (JsonNode a : link.path("addr_info")) {
                    return Validate.unicast("address", a.path("local").asText());
                }
            }
        } catch (IOException | ValidationException e) {
            log.warn("cannot find this host's address ({}); give --advertise-address", e.getMessage());
        }
        log.warn("no default route and no global address: advertising 127.0.0.1, which other hosts cannot reach; give --advertise-address");
        return InetAddress.getLoopbackAddress();
    }

    private static JsonNode json(Exec exec, List<String> argv) throws IOException {
        String out = exec.check(argv, null, TIMEOUT).out();
        return JSON.readTree(out.isBlank() ? "[]" : out);
    }
}
