package io.portolan.agent.config;

import java.nio.file.Files;
import java.nio.file.Path;

/** The default node name: the kernel's hostname, cut to the id alphabet. */
public final class Hostnames {
    private Hostnames() {
    }

    public static String local() {
        String h = null;
        try {
            h = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        } catch (Exception ignored) {
            // not Linux
        }
        if (h == null || h.isEmpty()) {
            h = System.getenv().getOrDefault("HOSTNAME", "node");
        }
        StringBuilder b = new StringBuilder();
        for (char c : h.toCharArray()) {
            b.append(Character.isLetterOrDigit(c) || c == '.' || c == '-' || c == '_' ? c : '-');
        }
        String s = b.length() == 0 || !Character.isLetterOrDigit(b.charAt(0)) ? "node" + b : b.toString();
        return s.length() > 128 ? s.substring(0, 128) : s;
    }
}
