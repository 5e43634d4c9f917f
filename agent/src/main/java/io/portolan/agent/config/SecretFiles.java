package io.portolan.agent.config;

import io.portolan.proto.ValidationException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * Files that hold a secret or a certificate, named by a flag: read once, at start, and refused with the
 * flag and the path named when missing, unreadable, empty, or (for secrets) readable by every user.
 */
public final class SecretFiles {
    private SecretFiles() {
    }

    /** The file's bytes; it must be a readable regular file, not empty. */
    public static byte[] read(String flag, String path) {
        if (path == null || path.isBlank()) {
            throw new ValidationException(flag, path, "needs a file name");
        }
        Path p = Path.of(path);
        if (!Files.exists(p)) {
            throw new ValidationException(flag, path, "no such file");
        }
        if (!Files.isRegularFile(p)) {
            throw new ValidationException(flag, path, "not a regular file");
        }
        byte[] b;
        try {
            b = Files.readAllBytes(p);
        } catch (IOException e) {
            throw new ValidationException(flag, path, "cannot read it (" + e.getMessage() + ")");
        }
        if (b.length == 0) {
            throw new ValidationException(flag, path, "the file is empty");
        }
        return b;
    }

    /** {@link #read}, and the file must not be readable by every user (a private key, a password, a token). */
    public static byte[] readPrivate(String flag, String path) {
        byte[] b = read(flag, path);
        Set<PosixFilePermission> perms;
        try {
            perms = Files.getPosixFilePermissions(Path.of(path)); // the file's own, through any symbolic link
        } catch (UnsupportedOperationException | IOException e) {
            return b; // no POSIX permissions on this file system
        }
        if (perms.contains(PosixFilePermission.OTHERS_READ)) {
            throw new ValidationException(flag, path, "readable by every user (" + PosixFilePermissions.toString(perms)
                    + "): it holds a secret; chmod o-r (e.g. chmod 600, or 640 with the agent's group)");
        }
        return b;
    }

    /**
     * A secret line (a password, a token): the file's text without its trailing line break; refused when
     * that leaves nothing.
     */
    public static String secretLine(String flag, String path) {
        String s = new String(readPrivate(flag, path), StandardCharsets.UTF_8);
        while (s.endsWith("\n") || s.endsWith("\r")) {
            s = s.substring(0, s.length() - 1);
        }
        if (s.isEmpty()) {
            throw new ValidationException(flag, path, "the file holds only a line break; put the secret on its first line");
        }
        if (s.indexOf('\n') >= 0) {
            throw new ValidationException(flag, path, "more than one line; the secret is the file's one line");
        }
        return s;
    }
}
