package io.portolan.agent.registry;

import java.security.SecureRandom;

/** Instance ids: {@code SERVICE-} and 10 random hex digits, unless the registrant chose one. */
public final class Ids {
    private static final SecureRandom RANDOM = new SecureRandom();

    private Ids() {
    }

    public static String newId(String service) {
        byte[] b = new byte[5];
        RANDOM.nextBytes(b);
        StringBuilder s = new StringBuilder(service.length() + 11).append(service).append('-');
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }
}
