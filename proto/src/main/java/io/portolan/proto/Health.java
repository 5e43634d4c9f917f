package io.portolan.proto;

/** The health an instance reports (or a checker assigns). Only healthy instances are answered. */
public enum Health {
    HEALTHY, UNHEALTHY;

    public String lower() {
        return this == HEALTHY ? "healthy" : "unhealthy";
    }

    public static Health parse(String field, String s) {
        if (s == null || "healthy".equals(s)) {
            return HEALTHY;
        }
        if ("unhealthy".equals(s)) {
            return UNHEALTHY;
        }
        throw new ValidationException(field, s, "health is healthy or unhealthy");
    }
}
