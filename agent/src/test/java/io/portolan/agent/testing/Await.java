package io.portolan.agent.testing;

import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.fail;

/** Polls a condition every few milliseconds; returns how long it took, fails after the timeout. */
public final class Await {
    private Await() {
    }

    public static long until(String what, long timeoutMillis, BooleanSupplier condition) throws InterruptedException {
        long t0 = System.nanoTime();
        long deadline = t0 + timeoutMillis * 1_000_000L;
        while (true) {
            if (condition.getAsBoolean()) {
                return (System.nanoTime() - t0) / 1_000_000L;
            }
            if (System.nanoTime() > deadline) {
                fail(what + ": not true within " + timeoutMillis + " ms");
            }
            Thread.sleep(5);
        }
    }
}
