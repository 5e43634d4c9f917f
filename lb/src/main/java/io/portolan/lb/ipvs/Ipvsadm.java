package io.portolan.lb.ipvs;

import java.io.IOException;
import java.util.List;

/**
 * How the syncer talks to ipvsadm: groups of {@code ipvsadm -R} lines ({@code -A/-E/-D/-a/-e/-d},
 * or one listing line {@code -L -n -f MARK} / {@code -S -n}), run in order. Each group's answer is
 * its output lines: for changes the error messages (none = every line went through), for a listing
 * the listing. An {@link IOException} means the tool died, hung or would not start: some lines may
 * have run, so the caller must re-read the kernel (a full resync) before trusting its table again.
 * Lines come from validated values only (numbers, addresses, scheduler names), never a shell.
 */
interface Ipvsadm extends AutoCloseable {

    List<List<String>> run(List<List<String>> groups) throws IOException;

    /** Processes started so far (for tests and the benchmark). */
    int starts();

    @Override
    void close();

    /** A listing line's group: {@code -L ...} and {@code -S ...} print; the others change the table. */
    static boolean isListing(List<String> group) {
        return group.size() == 1 && (group.get(0).startsWith("-L ") || group.get(0).startsWith("-S "));
    }

    /** Refuses a line that could split into two restore lines (values are validated upstream; this is the last guard). */
    static String checked(String line) {
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c < ' ' || c == '#' || c == '"' || c == '\'' || c == '\\') {
                throw new IllegalArgumentException("refusing ipvsadm line with character 0x" + Integer.toHexString(c) + ": " + line);
            }
        }
        return line;
    }
}
