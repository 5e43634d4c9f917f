package io.portolan.dns.bench;

import java.net.InetAddress;

/** Prints the addresses Java's resolver ({@link InetAddress}) gives for each argument, one per line. */
public final class Lookup {
    private Lookup() {
    }

    public static void main(String[] args) throws Exception {
        for (String name : args) {
            for (InetAddress a : InetAddress.getAllByName(name)) {
                System.out.println(name + " " + a.getHostAddress());
            }
        }
    }
}
