package io.portolan.agent.fleet;

import io.portolan.agent.fleet.Fleet.Host;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * What one host answers and routes, sampled on a thread of its own until closed (or its bound): the
 * addresses its DNS gives for each watched name ({@code dig @GATEWAY NAME.ZONE}) and which of the
 * watched addresses its nftables table {@code ip portolan} names. The drills read the samples
 * afterwards: when an address left or came back, and whether one went missing meanwhile.
 */
final class Monitor implements AutoCloseable {
    /**
     * One round: when it started (epoch ms), the answer per name (empty when dig failed), the watched addresses the table
     * names, whether {@code nft list} worked, and when the round's last look ended (epoch ms): the state it saw held by then.
     */
    record Sample(long at, Map<String, Set<String>> dns, Set<String> nft, boolean nftOk, long end) {
        boolean dnsHas(String name, String address) {
            return dns.getOrDefault(name, Set.of()).contains(address);
        }

        /** Whether name's answer is a real one (dig answered) without {@code address}. */
        boolean dnsLacks(String name, String address) {
            Set<String> a = dns.getOrDefault(name, Set.of());
            return !a.isEmpty() && !a.contains(address);
        }

        /** Whether the table was read and does not name {@code address}. */
        boolean nftLacks(String address) {
            return nftOk && !nft.contains(address);
        }
    }

    final Host host;
    final List<String> names;
    final Set<String> addresses;
    final List<Sample> samples = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private volatile boolean closed;

    /** Samples {@code host} every {@code everyMs} (plus the time a round takes) for at most {@code bound}. */
    Monitor(Host host, List<String> names, Set<String> addresses, long everyMs, Duration bound) {
        this.host = host;
        this.names = List.copyOf(names);
        this.addresses = Set.copyOf(addresses);
        long deadline = System.currentTimeMillis() + bound.toMillis();
        List<Pattern> patterns = new ArrayList<>();
        for (String a : this.addresses) {
            patterns.add(Pattern.compile("(?<![0-9.])" + Pattern.quote(a) + "(?![0-9])"));
        }
        this.thread = new Thread(() -> {
            for (int i = 0; i < 100_000 && !closed && System.currentTimeMillis() < deadline; i++) {
                long at = System.currentTimeMillis();
                Map<String, Set<String>> dns = new LinkedHashMap<>();
                for (String n : this.names) {
                    dns.put(n, new HashSet<>(host.dig(host.gateway, n + "." + Fleet.ZONE)));
                }
                Set<String> nft = new HashSet<>();
                Sh.Result r = host.run(Duration.ofSeconds(10), "nft", "list", "table", "ip", "portolan");
                if (r.ok()) {
                    int k = 0;
                    for (String a : this.addresses) {
                        if (patterns.get(k++).matcher(r.out()).find()) {
                            nft.add(a);
                        }
                    }
                }
                samples.add(new Sample(at, dns, nft, r.ok(), System.currentTimeMillis()));
                Fleet.sleep(everyMs);
            }
        }, "monitor-" + host.node);
        thread.setDaemon(true);
        thread.start();
    }

    /** The first sample at or after {@code fromMs} that matches; its time, or -1. */
    long firstAt(long fromMs, Predicate<Sample> p) {
        for (Sample s : samples) {
            if (s.at() >= fromMs && p.test(s)) {
                return s.at();
            }
        }
        return -1;
    }

    /** The first sample at or after {@code fromMs} that matches; the time its round ended (what it saw held by then), or -1. */
    long firstEndAt(long fromMs, Predicate<Sample> p) {
        for (Sample s : samples) {
            if (s.at() >= fromMs && p.test(s)) {
                return s.end();
            }
        }
        return -1;
    }

    /**
     * Intervals in [fromMs, toMs) where {@code address} was missing from {@code name}'s answer: a
     * list of "START+DURATION" (ms after {@code fromMs}), each from the first sample without it to
     * the next sample with it.
     */
    List<String> missing(String name, String address, long fromMs, long toMs) {
        List<String> gaps = new ArrayList<>();
        long start = -1;
        for (Sample s : samples) {
            if (s.at() < fromMs || s.at() >= toMs) {
                continue;
            }
            boolean has = s.dnsHas(name, address);
            if (!has && start < 0) {
                start = s.at();
            } else if (has && start >= 0) {
                gaps.add((start - fromMs) + "+" + (s.at() - start));
                start = -1;
            }
        }
        if (start >= 0) {
            gaps.add((start - fromMs) + "+(still missing)");
        }
        return gaps;
    }

    /** The mean time between samples in [fromMs, toMs), for the resolution of the numbers above. */
    long meanIntervalMs(long fromMs, long toMs) {
        List<Long> at = samples.stream().map(Sample::at).filter(t -> t >= fromMs && t < toMs).toList();
        return at.size() < 2 ? -1 : (at.get(at.size() - 1) - at.get(0)) / (at.size() - 1);
    }

    @Override
    public void close() {
        closed = true;
        try {
            thread.join(20_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
