package io.portolan.lb.host;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.proto.Validate;
import io.portolan.proto.ValidationException;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Keeps VIPs as host addresses ({@code /32}, {@code /128}) on one device, and knows which addresses
 * there are its own, after a restart too, so that it adopts and removes exactly those:
 * <ul>
 *   <li>on a shared device (lo, eth0), the IPv4 addresses that carry its label (by default
 *       {@code DEVICE:ptl}, which is why such a device name is at most 11 characters; IPv6
 *       addresses carry no label, so they are added and removed, never adopted);</li>
 *   <li>on a device of its own (a dummy device it creates), every host address on it.</li>
 * </ul>
 * Address changes go to the kernel in one {@code ip -force -batch -} per call; an address already
 * there (on add) or already gone (on remove) is not an error. Only {@link Exec} argv, and only
 * parsed addresses and a validated device name reach it.
 */
public final class VipAddresses {
    /** The label suffix of addresses on a shared device: {@code DEVICE:ptl} (a label is at most 15 bytes). */
    public static final String LABEL_SUFFIX = ":ptl";
    /** The longest device name that leaves room for {@link #LABEL_SUFFIX}. */
    public static final int MAX_LABELLED_DEVICE = 15 - LABEL_SUFFIX.length();
    private static final Duration TIMEOUT = Duration.ofMinutes(2);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Exec exec;
    private final String device;
    /** Null on a device of our own: everything on it is ours. */
    private final String label;

    private VipAddresses(Exec exec, String device, String label) {
        this.exec = exec;
        this.device = checkDevice("VIP device", device, 15);
        this.label = label;
    }

    /** Addresses on a shared device, ours labelled {@code DEVICE:ptl}; a device name too long for the label is refused. */
    public static VipAddresses shared(Exec exec, String device) {
        return new VipAddresses(exec, checkDevice("VIP device", device, MAX_LABELLED_DEVICE), device + LABEL_SUFFIX);
    }

    /** Addresses on a shared device, ours labelled {@code label} (which starts with the device name). */
    public static VipAddresses shared(Exec exec, String device, String label) {
        if (!label.startsWith(device + ":") || label.length() > 15) {
            throw new ValidationException("address label", label, "DEVICE:SUFFIX of at most 15 characters");
        }
        return new VipAddresses(exec, device, label);
    }

    /** Addresses on a device of our own, every one of them ours. */
    public static VipAddresses ownDevice(Exec exec, String device) {
        return new VipAddresses(exec, device, null);
    }

    public String device() {
        return device;
    }

    /** Creates the device as a dummy if it is absent, and sets it up. */
    public void ensureDummyDevice() throws IOException {
        if (exec.run(List.of("ip", "link", "show", "dev", device), null, TIMEOUT).code() != 0) {
            exec.check(List.of("ip", "link", "add", device, "type", "dummy"), null, TIMEOUT);
        }
        exec.check(List.of("ip", "link", "set", "dev", device, "up"), null, TIMEOUT);
    }

    /** Deletes the device if it is a dummy one (ours); false if it is absent or of another kind. */
    public boolean deleteDummyDevice() throws IOException {
        Exec.Result r = exec.run(List.of("ip", "-d", "-o", "link", "show", "dev", device), null, TIMEOUT);
        if (r.code() != 0 || !r.out().contains(" dummy ")) {
            return false;
        }
        exec.check(List.of("ip", "link", "del", "dev", device), null, TIMEOUT);
        return true;
    }

    /**
     * An interface name as {@code ip link} takes it: 1 to {@code max} (at most 15) of letters, digits, '.', '_'
     * and '-', not starting with '-'. A shared device's name leaves room for the label: at most {@link #MAX_LABELLED_DEVICE}.
     */
    public static String checkDevice(String field, String d, int max) {
        String rule = "an interface name of 1-" + max + " letters, digits, '.', '_' and '-', e.g. lo"
                + (max == MAX_LABELLED_DEVICE ? " (its VIPs carry the label DEVICE" + LABEL_SUFFIX + ")" : "");
        if (d == null || d.isEmpty() || d.length() > max || d.equals(".") || d.equals("..") || d.charAt(0) == '-') {
            throw new ValidationException(field, d, rule);
        }
        for (int i = 0; i < d.length(); i++) {
            char c = d.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
                throw new ValidationException(field, d, rule);
            }
        }
        return d;
    }

    /** The addresses on the device that are ours; empty when the device does not exist. */
    public Set<InetAddress> list() throws IOException {
        Exec.Result r = exec.run(List.of("ip", "-j", "addr", "show", "dev", device), null, TIMEOUT);
        Set<InetAddress> out = new LinkedHashSet<>();
        if (r.code() != 0) {
            if (r.err().contains("does not exist")) {
                return out;
            }
            throw new IOException("ip addr show dev " + device + " failed: " + Exec.firstLines(r.err(), 2));
        }
        for (Labelled l : parse(r.out())) {
            if (label == null ? l.hostAddress() : l.label().equals(label)) {
                out.add(l.address());
            }
        }
        return out;
    }

    /** Adds {@code vips}; returns the ones the kernel refused, with why. */
    public Map<InetAddress, String> add(Collection<InetAddress> vips) throws IOException {
        List<InetAddress> list = List.copyOf(vips);
        StringBuilder b = new StringBuilder();
        for (InetAddress a : list) {
            b.append("address add ").append(prefix(a)).append(" dev ").append(device);
            if (label != null && a instanceof Inet4Address) {
                b.append(" label ").append(label);
            }
            b.append('\n');
        }
        return batch(list, b, "already assigned", "File exists");
    }

    /** Removes {@code vips}; returns the ones the kernel refused to remove, with why. */
    public Map<InetAddress, String> remove(Collection<InetAddress> vips) throws IOException {
        List<InetAddress> list = List.copyOf(vips);
        StringBuilder b = new StringBuilder();
        for (InetAddress a : list) {
            b.append("address del ").append(prefix(a)).append(" dev ").append(device).append('\n');
        }
        return batch(list, b, "Address not found", "Cannot assign requested address");
    }

    /**
     * Runs one batch; {@code ip -force} goes on past a failed line and reports it as
     * {@code Command failed -:LINE} after the kernel's words. Errors containing {@code fine1} or
     * {@code fine2} are the idempotent cases.
     */
    private Map<InetAddress, String> batch(List<InetAddress> list, StringBuilder script, String fine1, String fine2) throws IOException {
        Map<InetAddress, String> failed = new LinkedHashMap<>();
        if (list.isEmpty()) {
            return failed;
        }
        Exec.Result r = exec.run(List.of("ip", "-force", "-batch", "-"), script.toString(), TIMEOUT);
        if (r.code() == 0) {
            return failed;
        }
        StringBuilder why = new StringBuilder();
        boolean attributed = false;
        for (String l : (r.err() + "\n" + r.out()).split("\n")) {
            l = l.strip();
            if (l.startsWith("Command failed -:")) {
                int line = parseLine(l.substring("Command failed -:".length()));
                String reason = why.toString().strip();
                why.setLength(0);
                if (line >= 1 && line <= list.size() && !reason.contains(fine1) && !reason.contains(fine2)) {
                    failed.put(list.get(line - 1), reason.isEmpty() ? "ip exited " + r.code() : reason);
                }
                attributed = true;
            } else if (!l.isEmpty()) {
                why.append(why.length() == 0 ? "" : "; ").append(l);
            }
        }
        if (!attributed) {
            throw new IOException("ip -batch on " + device + " failed (exit " + r.code() + "): " + Exec.firstLines(r.err().isBlank() ? r.out() : r.err(), 3));
        }
        return failed;
    }

    private static int parseLine(String s) {
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static String prefix(InetAddress a) {
        return a.getHostAddress() + (a instanceof Inet4Address ? "/32" : "/128");
    }

    /** An address on a device, with its label (the device name when it has none). */
    public record Labelled(String device, InetAddress address, String label, boolean hostAddress) {
    }

    /** Every IPv4 address on the host whose label ends in {@link #LABEL_SUFFIX}, for {@code --cleanup}. */
    public static List<Labelled> labelledAnywhere(Exec exec) throws IOException {
        Exec.Result r = exec.check(List.of("ip", "-j", "-4", "addr", "show"), null, TIMEOUT);
        List<Labelled> out = new ArrayList<>();
        for (Labelled l : parse(r.out())) {
            if (l.label().endsWith(LABEL_SUFFIX)) {
                out.add(l);
            }
        }
        return out;
    }

    /** Removes {@code l} from its device. */
    public static Map<InetAddress, String> remove(Exec exec, Labelled l) throws IOException {
        return new VipAddresses(exec, l.device(), l.label()).remove(List.of(l.address()));
    }

    private static List<Labelled> parse(String json) throws IOException {
        List<Labelled> out = new ArrayList<>();
        for (JsonNode link : JSON.readTree(json.isBlank() ? "[]" : json)) {
            String dev = link.path("ifname").asText();
            for (JsonNode a : link.path("addr_info")) {
                String family = a.path("family").asText();
                int len = a.path("prefixlen").asInt();
                boolean host = family.equals("inet") ? len == 32 : family.equals("inet6") && len == 128;
                try {
                    out.add(new Labelled(dev, Validate.address("address", a.path("local").asText()), a.path("label").asText(dev), host));
                } catch (ValidationException notAnAddress) {
                    // nothing of ours: we add address literals only
                }
            }
        }
        return out;
    }
}
