package io.portolan.lb.nftables;

import java.util.SortedMap;

/** The desired content of portolan's table: the fixed part and one fragment per service, by name. */
record Ruleset(Fragment common, SortedMap<String, Fragment> services) {
    Fragment service(String name) {
        return services.get(name);
    }
}
