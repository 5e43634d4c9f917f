package io.portolan.proto;

import java.time.Duration;
import java.util.Locale;

/**
 * The one grammar for values a user types (flags, config keys, CLI arguments), next to
 * {@link Validate} which holds the rules of the model's own values. Every parser throws
 * {@link ValidationException} naming the flag, the value and an example of what is accepted.
 *
 * <ul>
 *   <li>duration: a whole number with a unit, {@code ms}, {@code s}, {@code m} or {@code h}
 *       ({@code 250ms}, {@code 5s}, {@code 2m}, {@code 1h}); a bare number is refused, except
 *       {@code 0} where zero is in range (it means "off" there)</li>
 *   <li>whole seconds (TTLs, as etcd leases and DNS define them): a bare whole number</li>
 *   <li>integer: a whole number in a range</li>
 *   <li>size: a whole number of bytes, or with {@code k}, {@code m} or {@code g} (powers of 1024)</li>
 *   <li>switch: {@code true} or {@code false}</li>
 * </ul>
 */
public final class Values {
    private Values() {
    }

    /** A duration in {@code [min, max]}; see the class comment for the grammar. */
    public static Duration duration(String flag, String s, Duration min, Duration max) {
        Duration d = duration(flag, s, min.isZero());
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw new ValidationException(flag, s, "a duration from " + text(min) + " to " + text(max));
        }
        return d;
    }

    private static Duration duration(String flag, String s, boolean zeroAllowed) {
        String t = s == null ? "" : s.strip();
        if (t.equals("0") && zeroAllowed) {
            return Duration.ZERO;
        }
        int i = 0;
        while (i < t.length() && t.charAt(i) >= '0' && t.charAt(i) <= '9') {
            i++;
        }
        if (i == 0 || i > 12) {
            throw new ValidationException(flag, s, "a duration is a whole number with a unit: ms, s, m or h, e.g. 500ms or 5s");
        }
        long n = Long.parseLong(t.substring(0, i));
        return switch (t.substring(i)) {
            case "ms" -> Duration.ofMillis(n);
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            case "" -> throw new ValidationException(flag, s,
                    "a duration needs a unit: ms, s, m or h, e.g. " + n + "s or " + n + "ms" + (zeroAllowed ? " (0 alone means off)" : ""));
            default -> throw new ValidationException(flag, s, "unknown unit '" + t.substring(i) + "'; use ms, s, m or h, e.g. 5s");
        };
    }

    /** A duration the kernel takes in whole seconds (IPVS timeouts): the grammar above, a whole number of seconds. */
    public static Duration wholeSeconds(String flag, String s, Duration min, Duration max) {
        Duration d = duration(flag, s, min, max);
        if (d.toMillis() % 1000 != 0) {
            throw new ValidationException(flag, s, "whole seconds, e.g. " + Math.max(1, d.toSeconds()) + "s");
        }
        return d;
    }

    /** A whole number in {@code [min, max]} (also TTLs: whole seconds without a unit, {@code --ttl 10}). */
    public static int integer(String flag, String s, int min, int max) {
        return (int) integer(flag, s, (long) min, max);
    }

    /** A whole number in {@code [min, max]}. */
    public static long integer(String flag, String s, long min, long max) {
        String t = s == null ? "" : s.strip();
        long v;
        try {
            if (t.length() > 19 || t.startsWith("+")) {
                throw new NumberFormatException();
            }
            v = Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new ValidationException(flag, s, "a whole number from " + min + " to " + max);
        }
        if (v < min || v > max) {
            throw new ValidationException(flag, s, "a whole number from " + min + " to " + max);
        }
        return v;
    }

    /** A size in bytes in {@code [min, max]}: {@code 4096}, {@code 512k}, {@code 16m}, {@code 1g}. */
    public static long size(String flag, String s, long min, long max) {
        String t = s == null ? "" : s.strip().toLowerCase(Locale.ROOT);
        int shift = t.endsWith("k") ? 10 : t.endsWith("m") ? 20 : t.endsWith("g") ? 30 : 0;
        String digits = shift == 0 ? t : t.substring(0, t.length() - 1);
        long v = -1;
        if (!digits.isEmpty() && digits.length() <= 12 && digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            v = Long.parseLong(digits) << shift;
        }
        if (v < 0) {
            throw new ValidationException(flag, s, "a size in bytes, or with k, m or g, e.g. 512k or 16m");
        }
        if (v < min || v > max) {
            throw new ValidationException(flag, s, "a size from " + min + " to " + max + " bytes");
        }
        return v;
    }

    /** {@code true} or {@code false}. */
    public static boolean bool(String flag, String s) {
        if ("true".equals(s)) {
            return true;
        }
        if ("false".equals(s)) {
            return false;
        }
        throw new ValidationException(flag, s, "true or false");
    }

    /** A duration as this grammar writes it: the largest unit that divides it ({@code 1500ms}, {@code 2m}). */
    public static String text(Duration d) {
        long ms = d.toMillis();
        if (ms == 0) {
            return "0";
        }
        if (ms % 3_600_000 == 0) {
            return ms / 3_600_000 + "h";
        }
        if (ms % 60_000 == 0) {
            return ms / 60_000 + "m";
        }
        if (ms % 1000 == 0) {
            return ms / 1000 + "s";
        }
        return ms + "ms";
    }
}
