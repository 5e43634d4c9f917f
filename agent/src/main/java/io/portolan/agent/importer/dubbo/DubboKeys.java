package io.portolan.agent.importer.dubbo;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.proto.ValidationException;
import io.portolan.proto.Validate;

import java.net.InetAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads the keys Apache Dubbo's etcd3 registry writes; no I/O. Two layouts, as Dubbo's own code writes them:
 * <ul>
 *   <li>interface level ({@code org.apache.dubbo.registry.etcd.EtcdRegistry#toUrlPath}, Dubbo 2.7 and the 3.x
 *   extension {@code dubbo-registry-etcd3}): {@code /ROOT/URL.encode(interface)/providers/URL.encode(url.toFullString())},
 *   the value a lease id ({@code JEtcdClientWrapper#createEphemeral}) or a hash (a persistent key, {@code dynamic=false});
 *   Dubbo also writes {@code /ROOT/INTERFACE} and {@code /ROOT/INTERFACE/providers} themselves (hash values), and
 *   {@code consumers}, {@code routers} and {@code configurators} beside {@code providers}: those are not providers and are
 *   passed over, as are the providers of Dubbo's own {@link #METADATA_SERVICE};</li>
 *   <li>application level ({@code EtcdServiceDiscovery#toPath}, Dubbo 2.7.23 with {@code registry-type=service} and Dubbo 3): {@code /services/APPLICATION/HOST:PORT}, the value
 *   the {@code DefaultServiceInstance} as JSON ({@code serviceName}, {@code host}, {@code port}, {@code enabled},
 *   {@code healthy}, {@code metadata} whose {@code dubbo.endpoints} is a JSON array of {@code {"port","protocol"}});
 *   {@code /services/APPLICATION} itself (a hash) is passed over.</li>
 * </ul>
 * A key that does not read throws {@link BadKey}, whose message never carries a password: a provider URL
 * with credentials is refused before anything else is read from it, and {@link #display} is the only form of
 * a key that is ever logged.
 */
final class DubboKeys {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Dubbo's default provider weight ({@code Constants.DEFAULT_WEIGHT}), also portolan's. */
    static final int DEFAULT_WEIGHT = 100;
    static final String APPLICATIONS_PREFIX = "/services/";
    /**
     * Dubbo's own metadata service, exported by every application-level provider and registered at interface level
     * too by Dubbo 2.7.23 (on a port of its own, 20881 beside 20880): not the application's service, so passed over, or
     * the application's VIP would send its callers to a port that serves none of its interfaces.
     */
    static final String METADATA_SERVICE = "org.apache.dubbo.metadata.MetadataService";

    private DubboKeys() {
    }

    /** A key (or value) that is Dubbo's but does not read; the message names what is wrong, never a password. */
    static final class BadKey extends Exception {
        BadKey(String message) {
            super(message);
        }
    }

    /**
     * One endpoint a key says a provider serves: {@code protocol} at {@code host:port} of {@code application}
     * ({@code service} is its portolan name). Interface-level keys carry the interface, version, group and weight.
     */
    record Endpoint(String application, String service, InetAddress address, String protocol, int port, int weight,
                    boolean healthy, boolean interfaceLevel, String iface, String version, String group, long timestamp) {
    }

    // ---------------------------------------------------------------- interface level

    /**
     * The endpoint of a key under {@code rootPrefix} ({@code /dubbo/}), or null for a key of Dubbo's that is not a
     * provider (its directories, consumers, routers, configurators, anything else it keeps under the root).
     */
    static Endpoint provider(String rootPrefix, String key) throws BadKey {
        String rest = key.substring(rootPrefix.length());
        String[] seg = rest.split("/", -1);
        if (seg.length < 3 || !seg[1].equals("providers")) {
            return null;
        }
        if (seg.length > 3) {
            throw new BadKey("a provider key is ROOT/INTERFACE/providers/URL with the URL URL-encoded (no '/' in it)");
        }
        if (seg[2].isEmpty()) {
            return null;
        }
        String iface = decode("interface", seg[0]);
        if (iface.equals(METADATA_SERVICE)) {
            return null;
        }
        String url = decode("provider URL", seg[2]);
        return fromUrl(url, iface);
    }

    private static String decode(String what, String s) throws BadKey {
        try {
            return URLDecoder.decode(s, StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new BadKey("the " + what + " does not URL-decode (a '%' not followed by two hex digits)");
        }
    }

    /** {@code PROTOCOL://[USER[:PASSWORD]@]HOST:PORT/PATH?K=V&...}, as Dubbo's URL.valueOf reads it. */
    static Endpoint fromUrl(String url, String keyInterface) throws BadKey {
        int q = url.indexOf('?');
        String head = q >= 0 ? url.substring(0, q) : url;
        int sep = head.indexOf("://");
        if (sep <= 0) {
            throw new BadKey("the provider URL has no PROTOCOL://");
        }
        String protocolRaw = head.substring(0, sep);
        String afterScheme = head.substring(sep + 3);
        if (afterScheme.indexOf('@') >= 0) {
            // checked before anything else is read from the URL (anywhere before '?', as display() redacts it),
            // so no message below can carry a password
            throw new BadKey("the provider URL carries credentials (USER:PASSWORD@); such a key is not imported");
        }
        int slash = afterScheme.indexOf('/');
        String authority = slash >= 0 ? afterScheme.substring(0, slash) : afterScheme;
        Map<String, String> params = new LinkedHashMap<>();
        if (q >= 0) {
            for (String part : url.substring(q + 1).split("&")) {
                if (part.isEmpty()) {
                    continue;
                }
                int eq = part.indexOf('=');
                if (eq > 0) {
                    params.put(part.substring(0, eq), part.substring(eq + 1));
                } else if (eq < 0) {
                    params.put(part, part);
                }
            }
        }
        String protocol = portName(protocolRaw);
        String host;
        String portText;
        if (authority.startsWith("[")) {
            int close = authority.indexOf(']');
            if (close < 0) {
                throw new BadKey("the provider URL's host '" + authority + "' has no closing ']'");
            }
            host = authority.substring(1, close);
            portText = authority.length() > close + 1 && authority.charAt(close + 1) == ':' ? authority.substring(close + 2) : "";
        } else {
            int colon = authority.lastIndexOf(':');
            host = colon >= 0 ? authority.substring(0, colon) : authority;
            portText = colon >= 0 ? authority.substring(colon + 1) : "";
        }
        InetAddress address = address(host);
        int port = port(portText);
        String application = params.get("application");
        if (application == null || application.isEmpty()) {
            throw new BadKey("the provider URL has no application parameter (the service it belongs to)");
        }
        int weight = DEFAULT_WEIGHT;
        String w = params.get("weight");
        if (w != null && !w.isEmpty()) {
            try {
                weight = Validate.weight("weight", Long.parseLong(w.trim()));
            } catch (NumberFormatException | ValidationException e) {
                throw new BadKey("weight '" + cut(w) + "' is not a whole number " + Validate.MIN_WEIGHT + "-" + Validate.MAX_WEIGHT);
            }
        }
        String iface = keyInterface != null && !keyInterface.isEmpty() ? keyInterface : params.getOrDefault("interface", path(afterScheme, slash));
        long timestamp = 0;
        try {
            timestamp = Long.parseLong(params.getOrDefault("timestamp", "0"));
        } catch (NumberFormatException ignored) {
            // informational only
        }
        return new Endpoint(application, service(application), address, protocol, port, weight, true, true,
                iface, params.getOrDefault("version", ""), params.getOrDefault("group", ""), timestamp);
    }

    private static String path(String afterScheme, int slash) {
        return slash >= 0 ? afterScheme.substring(slash + 1) : "";
    }

    private static String service(String application) throws BadKey {
        String name = ServiceNames.fromApplication(application);
        try {
            return Validate.serviceName("service", name);
        } catch (ValidationException e) {
            throw new BadKey("application '" + cut(application) + "' maps to '" + name
                    + "', which is not a service name (an RFC 1123 label: starts and ends with a letter or digit)");
        }
    }

    private static String portName(String protocol) throws BadKey {
        String p = protocol.toLowerCase(Locale.ROOT);
        try {
            return Validate.portName("protocol", p);
        } catch (ValidationException e) {
            throw new BadKey("protocol '" + cut(protocol) + "' cannot name a port (a lower-case label of at most 15 characters)");
        }
    }

    private static InetAddress address(String host) throws BadKey {
        try {
            return Validate.unicast("host", host);
        } catch (ValidationException e) {
            throw new BadKey("host '" + cut(host) + "' is not a usable IP address (portolan never resolves names)");
        }
    }

    private static int port(String text) throws BadKey {
        long n;
        try {
            n = Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new BadKey("port '" + cut(text) + "' is not a number 1-65535");
        }
        if (n < 1 || n > 65_535) {
            throw new BadKey("port " + n + " is not 1-65535");
        }
        return (int) n;
    }

    // ---------------------------------------------------------------- application level

    /**
     * The endpoints of a key under {@code /services/} (one per protocol of {@code dubbo.endpoints}, or the instance's
     * port as {@code dubbo} when it lists none), or null for {@code /services/APPLICATION} itself.
     */
    static List<Endpoint> application(String key, byte[] value) throws BadKey {
        String rest = key.substring(APPLICATIONS_PREFIX.length());
        String[] seg = rest.split("/", -1);
        if (seg.length == 1 || (seg.length == 2 && seg[1].isEmpty())) {
            return null;
        }
        if (seg.length != 2 || seg[0].isEmpty()) {
            throw new BadKey("an application instance key is /services/APPLICATION/HOST:PORT");
        }
        JsonNode n;
        try {
            n = JSON.readTree(value);
        } catch (java.io.IOException e) {
            throw new BadKey("the value is not JSON (" + (e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.toString()) + ")");
        }
        if (n == null || !n.isObject()) {
            throw new BadKey("the value is not a JSON object (Dubbo's ServiceInstance)");
        }
        String application = text(n, "serviceName");
        if (application == null || !application.equals(seg[0])) {
            throw new BadKey("serviceName '" + cut(String.valueOf(application)) + "' is not the key's application '" + cut(seg[0]) + "'");
        }
        String hostText = text(n, "host");
        if (hostText == null) {
            throw new BadKey("the instance has no host");
        }
        JsonNode portNode = n.get("port");
        if (portNode == null || !portNode.canConvertToLong() || !portNode.isIntegralNumber()) {
            throw new BadKey("the instance's port '" + (portNode == null ? "(missing)" : cut(portNode.toString())) + "' is not a number");
        }
        if (!seg[1].equals(hostText + ":" + portNode.asLong())) {
            throw new BadKey("host:port " + cut(hostText) + ":" + portNode.asLong() + " is not the key's '" + cut(seg[1]) + "'");
        }
        InetAddress address = address(hostText);
        int port = port(Long.toString(portNode.asLong()));
        boolean enabled = !n.has("enabled") || n.get("enabled").asBoolean(true);
        boolean healthy = !n.has("healthy") || n.get("healthy").asBoolean(true);
        String service = service(application);
        Map<String, Integer> protocols = new LinkedHashMap<>();
        JsonNode meta = n.get("metadata");
        String endpoints = meta != null && meta.isObject() ? text(meta, "dubbo.endpoints") : null;
        long timestamp = 0;
        if (meta != null && meta.isObject() && text(meta, "timestamp") != null) {
            try {
                timestamp = Long.parseLong(text(meta, "timestamp"));
            } catch (NumberFormatException ignored) {
                // informational only
            }
        }
        if (endpoints != null && !endpoints.isBlank()) {
            JsonNode list;
            try {
                list = JSON.readTree(endpoints);
            } catch (JsonProcessingException e) {
                throw new BadKey("metadata dubbo.endpoints is not JSON (" + e.getOriginalMessage() + ")");
            }
            if (list == null || !list.isArray()) {
                throw new BadKey("metadata dubbo.endpoints is not a JSON array");
            }
            for (Iterator<JsonNode> it = list.elements(); it.hasNext(); ) {
                JsonNode e = it.next();
                String protocol = e.isObject() ? text(e, "protocol") : null;
                JsonNode p = e.isObject() ? e.get("port") : null;
                if (protocol == null || p == null || !p.isIntegralNumber()) {
                    throw new BadKey("metadata dubbo.endpoints has an entry without protocol and port: " + cut(e.toString()));
                }
                protocols.put(portName(protocol), port(Long.toString(p.asLong())));
            }
        }
        if (protocols.isEmpty()) {
            protocols.put("dubbo", port);
        }
        List<Endpoint> out = new ArrayList<>(protocols.size());
        for (Map.Entry<String, Integer> e : protocols.entrySet()) {
            out.add(new Endpoint(application, service, address, e.getKey(), e.getValue(), enabled ? DEFAULT_WEIGHT : 0, healthy, false,
                    null, null, null, timestamp));
        }
        return out;
    }

    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        return v != null && v.isTextual() ? v.asText() : null;
    }

    static String cut(String s) {
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    // ---------------------------------------------------------------- logging

    /**
     * The key as it may be logged: whatever stands between a {@code ://} and the last {@code @} before the query
     * (a URL's credentials, raw or URL-encoded, decodable or not) replaced by {@code ***}.
     */
    static String display(String key) {
        String lower = key.toLowerCase(Locale.ROOT);
        StringBuilder out = new StringBuilder(key.length());
        int pos = 0;
        while (true) {
            int raw = lower.indexOf("://", pos);
            int enc = lower.indexOf("%3a%2f%2f", pos);
            int sep;
            int len;
            if (raw >= 0 && (enc < 0 || raw < enc)) {
                sep = raw;
                len = 3;
            } else if (enc >= 0) {
                sep = enc;
                len = 9;
            } else {
                break;
            }
            int start = sep + len;
            int end = lower.length();
            for (String stop : new String[] {"?", "%3f"}) {
                int i = lower.indexOf(stop, start);
                if (i >= 0 && i < end) {
                    end = i;
                }
            }
            int at = Math.max(lower.lastIndexOf('@', end - 1), lower.lastIndexOf("%40", end - 1));
            out.append(key, pos, start);
            if (at >= start) {
                out.append("***");
                pos = at;
            } else {
                pos = start;
            }
            out.append(key, pos, end);
            pos = end;
        }
        out.append(key, pos, key.length());
        return out.toString();
    }
}
