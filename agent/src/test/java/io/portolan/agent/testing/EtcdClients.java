package io.portolan.agent.testing;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/** A separate etcd client for tests (not the agent's), and helpers to read etcd's content. */
public final class EtcdClients {
    private EtcdClients() {
    }

    public static Client client(URI endpoint) {
        return Client.builder().endpoints(endpoint).build();
    }

    public static ByteSequence bs(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    public static ByteSequence bs(byte[] b) {
        return ByteSequence.from(b);
    }

    /** Every key under the prefix with its value, and the revision of the read. */
    public record Listing(Map<String, String> values, long revision) {
    }

    public static Listing list(Client c, String prefix) throws Exception {
        GetResponse r = c.getKVClient().get(bs(prefix), GetOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS);
        Map<String, String> m = new TreeMap<>();
        for (KeyValue kv : r.getKvs()) {
            m.put(kv.getKey().toString(StandardCharsets.UTF_8), kv.getValue().toString(StandardCharsets.UTF_8));
        }
        return new Listing(m, r.getHeader().getRevision());
    }

    public static Map<String, String> strings(Map<String, byte[]> raw) {
        Map<String, String> m = new TreeMap<>();
        raw.forEach((k, v) -> m.put(k, new String(v, StandardCharsets.UTF_8)));
        return m;
    }
}
