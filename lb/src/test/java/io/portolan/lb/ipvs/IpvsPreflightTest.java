package io.portolan.lb.ipvs;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.portolan.lb.host.Exec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The plane refuses to start, saying why and what to use instead, where IPVS cannot work. */
class IpvsPreflightTest {
    /** ipvsadm as it answers on a kernel without ip_vs, or with it. */
    static final class Answering implements Exec {
        final List<List<String>> calls = new ArrayList<>();
        final Result answer;

        Answering(Result answer) {
            this.answer = answer;
        }

        @Override
        public Result run(List<String> argv, String stdin, Duration timeout) {
            calls.add(argv);
            return answer;
        }
    }

    @Test
    void noIpvsInTheKernel_failsAtStart_namingItAndTheAlternatives() {
        Answering sh = new Answering(new Exec.Result(2, "", "Can't initialize ipvs: Protocol not available\n"
                + "Are you sure that IP Virtual Server is built in the kernel or as module?"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> IpvsDataPlane.preflight(sh, true));
        assertTrue(e.getMessage().contains("no IPVS") && e.getMessage().contains("Protocol not available")
                && e.getMessage().contains("--dataplane nftables or userspace"), e.getMessage());
        assertTrue(sh.calls.equals(List.of(List.of("ipvsadm", "-L", "-n", "--timeout"))), sh.calls.toString());
    }

    @Test
    void noIpvsadm_failsAtStart_namingThePackage() {
        Answering sh = new Answering(new Exec.Result(0, "", ""));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> IpvsDataPlane.preflight(sh, false));
        assertTrue(e.getMessage().contains("ipvsadm is not installed"), e.getMessage());
        assertTrue(sh.calls.isEmpty(), "nothing run");
    }

    @Test
    void ipvsPresent_passes() {
        Answering sh = new Answering(new Exec.Result(0, "Timeout (tcp tcpfin udp): 900 120 300\n", ""));
        assertDoesNotThrow(() -> IpvsDataPlane.preflight(sh, true));
    }
}
