package io.portolan.agent;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Type=notify support without JNI: when systemd passed NOTIFY_SOCKET, run {@code systemd-notify
 * --ready} (the unit sets NotifyAccess=all so a child may send it).
 */
final class Systemd {
    private static final Logger log = LoggerFactory.getLogger(Systemd.class);

    private Systemd() {
    }

    static void notifyReady() {
        if (System.getenv("NOTIFY_SOCKET") == null) {
            return;
        }
        try {
            Process p = new ProcessBuilder("systemd-notify", "--ready", "--pid=" + ProcessHandle.current().pid())
                    .inheritIO().start();
            p.waitFor();
        } catch (Exception e) {
            log.warn("systemd-notify failed: {}", e.toString());
        }
    }
}
