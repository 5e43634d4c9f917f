package io.portolan.agent.importer.dubbo;

import java.util.Locale;

/** Dubbo application names as portolan service names. */
final class ServiceNames {
    private ServiceNames() {
    }

    /**
     * The application's name lower-cased, every character other than a letter, digit or '-' turned into '-', cut
     * to 63 characters ({@code Demo_Provider.v2} becomes {@code demo-provider-v2}). The result may still not be a
     * service name (a leading or trailing '-', say): the caller validates it.
     */
    static String fromApplication(String application) {
        String lower = application.toLowerCase(Locale.ROOT);
        StringBuilder b = new StringBuilder(Math.min(lower.length(), 63));
        for (int i = 0; i < lower.length() && b.length() < 63; i++) {
            char c = lower.charAt(i);
            b.append((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ? c : '-');
        }
        return b.toString();
    }
}
