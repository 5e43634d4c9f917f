package io.portolan.agent.registry;

/** One change under the registry prefix, as the store reports it. {@code value} is null for a delete. */
public record KvEvent(String key, byte[] value, long modRevision) {
    public boolean isDelete() {
        return value == null;
    }
}
