package io.portolan.dns.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The server's meters, created once so that counting a query is an array index and an add:
 * {@code portolan.dns.queries{type,rcode}} and {@code portolan.dns.dropped{reason}}.
 */
final class DnsMetrics {
    private static final int[] TYPES = {1, 2, 5, 6, 12, 15, 16, 28, 33, 65, 255};
    private static final String[] TYPE_NAMES = {"A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "SRV", "HTTPS", "ANY", "other"};
    private static final String[] RCODE_NAMES = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other"};

    private final Counter[][] queries = new Counter[TYPE_NAMES.length][RCODE_NAMES.length];
    final Counter droppedMalformed;
    final Counter droppedRateLimited;

    DnsMetrics(MeterRegistry registry) {
        for (int t = 0; t < TYPE_NAMES.length; t++) {
            for (int r = 0; r < RCODE_NAMES.length; r++) {
                queries[t][r] = Counter.builder("portolan.dns.queries").tag("type", TYPE_NAMES[t]).tag("rcode", RCODE_NAMES[r])
                        .description("queries answered, by query type and response code").register(registry);
            }
        }
        droppedMalformed = Counter.builder("portolan.dns.dropped").tag("reason", "unreadable")
                .description("packets dropped without an answer").register(registry);
        droppedRateLimited = Counter.builder("portolan.dns.dropped").tag("reason", "ratelimit").register(registry);
    }

    void query(int qtype, int rcode) {
        int t = TYPES.length;
        for (int i = 0; i < TYPES.length; i++) {
            if (TYPES[i] == qtype) {
                t = i;
                break;
            }
        }
        int r = rcode >= 0 && rcode < RCODE_NAMES.length - 1 ? rcode : RCODE_NAMES.length - 1;
        queries[t][r].increment();
    }
}
