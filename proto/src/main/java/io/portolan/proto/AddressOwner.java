package io.portolan.proto;

/** Who holds an address in a snapshot: a service's VIP ({@code instance == null}) or an instance. */
public record AddressOwner(Service service, Instance instance) {
    public boolean isVip() {
        return instance == null;
    }
}
