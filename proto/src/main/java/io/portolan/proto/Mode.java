package io.portolan.proto;

/** How a service is reached: through one virtual IP, or by DNS round robin over its instances. */
public enum Mode {
    VIP, DNSRR;

    public String lower() {
        return this == VIP ? "vip" : "dnsrr";
    }

    public static Mode parse(String field, String s) {
        if ("vip".equals(s)) {
            return VIP;
        }
        if ("dnsrr".equals(s)) {
            return DNSRR;
        }
        throw new ValidationException(field, s, "a mode is vip or dnsrr");
    }
}
