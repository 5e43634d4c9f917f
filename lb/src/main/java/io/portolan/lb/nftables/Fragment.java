package io.portolan.lb.nftables;

import java.net.InetAddress;
import java.util.List;
import java.util.SortedMap;

/**
 * What one service renders to (or, with owner {@code ""}, the table's fixed part): its objects by
 * {@link NftObject#id()}, the VIP to put on the VIP device (or null), and what was left out and why.
 */
record Fragment(String owner, SortedMap<String, NftObject> objects, InetAddress vip, List<String> warnings) {
    static final String COMMON = "";
}
