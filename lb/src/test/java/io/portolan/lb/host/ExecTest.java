package io.portolan.lb.host;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real command runner: argv only, stdin, a timeout, stderr carried into the error. */
class ExecTest {
    private static final Duration T = Duration.ofSeconds(10);

    @Test
    void run_argvNotAShell_metacharactersArePlainArguments() throws IOException {
        Exec.Result r = Exec.local().run(List.of("printf", "%s|", "a b", "$(id)", "; rm -rf /"), null, T);
        assertEquals(0, r.code());
        assertEquals("a b|$(id)|; rm -rf /|", r.out());
    }

    @Test
    void run_stdin_fedAndOutputsKeptApart() throws IOException {
        String big = "x".repeat(1 << 20) + "\n"; // larger than a pipe buffer: stdin, stdout and stderr all drained at once
        Exec.Result r = Exec.local().run(List.of("sh", "-c", "cat; echo oops >&2; exit 3"), big, T);
        assertEquals(3, r.code());
        assertEquals(big, r.out());
        assertEquals("oops\n", r.err());
    }

    @Test
    void check_nonZeroExit_throwsWithTheCommandAndItsStderr() {
        IOException e = assertThrows(IOException.class,
                () -> Exec.local().check(List.of("ip", "link", "show", "dev", "nosuchdev0"), null, T));
        assertTrue(e.getMessage().contains("ip link show dev nosuchdev0") && e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void run_pastTimeout_killedAndSaysSo() {
        long t0 = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> Exec.local().run(List.of("sleep", "30"), null, Duration.ofMillis(300)));
        assertTrue(e.getMessage().contains("did not finish within 300 ms"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L);
    }

    @Test
    void run_missingProgram_namesIt() {
        IOException e = assertThrows(IOException.class, () -> Exec.local().run(List.of("no-such-program-ptl"), null, T));
        assertTrue(e.getMessage().contains("no-such-program-ptl"), e.getMessage());
    }

    @Test
    void inNetns_runsThere() throws Exception {
        String ns = "ptl-exec-" + ProcessHandle.current().pid();
        Exec.local().check(List.of("ip", "netns", "add", ns), null, T);
        try {
            String links = Exec.inNetns(ns).check(List.of("ip", "-o", "link"), null, T).out();
            assertEquals(1, links.lines().count(), "a fresh namespace has lo only: " + links);
        } finally {
            Exec.local().check(List.of("ip", "netns", "del", ns), null, T);
        }
    }
}
