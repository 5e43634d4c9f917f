package io.portolan.proto;

import java.time.Duration;

/**
 * A health check the agent on an instance's host runs against it: {@code tcp} (a connect), {@code
 * http:PATH} (a GET answered 2xx or 3xx) or {@code grpc} (gRPC's standard {@code grpc.health.v1}
 * service answering SERVING), every {@code interval}, each try bounded by {@code timeout}. An
 * instance turns unhealthy after {@code fall} failures in a row and healthy again after {@code
 * rise} successes; failures in the first {@code startPeriod} after registration do not count.
 */
public record Check(Kind kind, String path, Duration interval, Duration timeout, int rise, int fall, Duration startPeriod) {
    public enum Kind {
        TCP, HTTP, GRPC;

        public String lower() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    public static final Duration DEFAULT_INTERVAL = Duration.ofSeconds(5);
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);
    public static final int DEFAULT_RISE = 1;
    public static final int DEFAULT_FALL = 3;
    public static final Duration DEFAULT_START_PERIOD = Duration.ZERO;

    public Check {
        if (kind == null) {
            throw new ValidationException("check", null, "a check is tcp, http:PATH or grpc");
        }
        if (kind == Kind.HTTP) {
            if (path == null || !path.startsWith("/") || path.length() > 1024 || !path.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
                throw new ValidationException("check", "http:" + (path == null ? "" : path),
                        "an http check needs a path starting with '/', printable ASCII without spaces, e.g. http:/healthz");
            }
        } else if (path != null) {
            throw new ValidationException("check", kind.lower() + ":" + path, "only an http check takes a path");
        }
        interval = interval == null ? DEFAULT_INTERVAL : interval;
        timeout = timeout == null ? DEFAULT_TIMEOUT : timeout;
        startPeriod = startPeriod == null ? DEFAULT_START_PERIOD : startPeriod;
        within("check-interval", interval, Duration.ofMillis(100), Duration.ofHours(1));
        within("check-timeout", timeout, Duration.ofMillis(10), Duration.ofMinutes(5));
        within("check-start-period", startPeriod, Duration.ZERO, Duration.ofHours(1));
        if (timeout.compareTo(interval) > 0) {
            throw new ValidationException("check-timeout", Values.text(timeout), "at most the interval (" + Values.text(interval) + ")");
        }
        if (rise < 1 || rise > 100) {
            throw new ValidationException("check-rise", rise, "a whole number from 1 to 100");
        }
        if (fall < 1 || fall > 100) {
            throw new ValidationException("check-fall", fall, "a whole number from 1 to 100");
        }
    }

    private static void within(String field, Duration d, Duration min, Duration max) {
        if (d.compareTo(min) < 0 || d.compareTo(max) > 0) {
            throw new ValidationException(field, Values.text(d), "from " + Values.text(min) + " to " + Values.text(max));
        }
    }

    /** {@code tcp}, {@code http:PATH} or {@code grpc}, with the default timings. */
    public static Check parse(String field, String spec) {
        if ("tcp".equals(spec)) {
            return new Check(Kind.TCP, null, null, null, DEFAULT_RISE, DEFAULT_FALL, null);
        }
        if ("grpc".equals(spec)) {
            return new Check(Kind.GRPC, null, null, null, DEFAULT_RISE, DEFAULT_FALL, null);
        }
        if (spec != null && spec.startsWith("http:")) {
            try {
                return new Check(Kind.HTTP, spec.substring(5), null, null, DEFAULT_RISE, DEFAULT_FALL, null);
            } catch (ValidationException e) {
                throw new ValidationException(field, spec, e.getMessage());
            }
        }
        throw new ValidationException(field, spec, "a check is tcp, http:PATH (e.g. http:/healthz) or grpc");
    }

    /** As {@link #parse} reads it: {@code tcp}, {@code http:/healthz}, {@code grpc}. */
    public String spec() {
        return kind == Kind.HTTP ? "http:" + path : kind.lower();
    }

    public Check withTimings(Duration newInterval, Duration newTimeout, int newRise, int newFall, Duration newStartPeriod) {
        return new Check(kind, path, newInterval, newTimeout, newRise, newFall, newStartPeriod);
    }
}
