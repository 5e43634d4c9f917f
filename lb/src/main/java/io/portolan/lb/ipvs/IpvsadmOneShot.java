package io.portolan.lb.ipvs;

import io.portolan.lb.host.Exec;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link Ipvsadm} by one process per call: {@code ipvsadm -R} with the change lines on stdin, and one
 * {@code ipvsadm -R} per listing. ipvsadm names no line when one fails, so every change group of a
 * call that printed errors gets all of them (the syncer then reads the table back to see which
 * services did not reach their state). Used where {@code stdbuf} is missing (the persistent session
 * needs it), and by the benchmark as the before case. A process start costs ~150 ms in the TCG VM.
 */
final class IpvsadmOneShot implements Ipvsadm {
    private static final Duration TIMEOUT = Duration.ofMinutes(5);
    private final Exec exec;
    private int starts;

    IpvsadmOneShot(Exec exec) {
        this.exec = exec;
    }

    @Override
    public List<List<String>> run(List<List<String>> groups) throws IOException {
        List<List<String>> out = new ArrayList<>(groups.size());
        int i = 0;
        while (i < groups.size()) {
            if (Ipvsadm.isListing(groups.get(i))) {
                starts++;
                String line = Ipvsadm.checked(groups.get(i).get(0));
                Exec.Result r = exec.run(List.of("ipvsadm", "-R"), line + "\n", TIMEOUT);
                if (r.code() != 0 || !r.err().isBlank()) {
                    throw new IOException("ipvsadm " + line + " failed (exit " + r.code() + "): " + r.errOrOut());
                }
                out.add(r.out().lines().toList());
                i++;
                continue;
            }
            int from = i;
            StringBuilder stdin = new StringBuilder();
            while (i < groups.size() && !Ipvsadm.isListing(groups.get(i))) {
                groups.get(i++).forEach(l -> stdin.append(Ipvsadm.checked(l)).append('\n'));
            }
            starts++;
            Exec.Result r = exec.run(List.of("ipvsadm", "-R"), stdin.toString(), TIMEOUT);
            List<String> errors = (r.err() + "\n" + r.out()).lines().filter(l -> !l.isBlank()).toList();
            if (r.code() != 0 && errors.isEmpty()) {
                errors = List.of("ipvsadm -R exited with " + r.code());
            }
            for (int g = from; g < i; g++) {
                out.add(errors);
            }
        }
        return out;
    }

    @Override
    public int starts() {
        return starts;
    }

    @Override
    public void close() {
    }
}
