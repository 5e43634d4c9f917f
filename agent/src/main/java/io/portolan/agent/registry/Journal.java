package io.portolan.agent.registry;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.proto.ValidationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * An append-only journal in the state directory: one line per change, written with one {@code write(2)}
 * before the change is acknowledged. The embedded store's {@code registry.journal} and the etcd store's
 * host lease ({@code host-lease.journal}: its lease id and the instances it holds) are written this way.
 *
 * <p>A line is a JSON object, a tab and the CRC-32C of the JSON's bytes in 8 hex digits:
 * <pre>{"rev":41,"ops":[{"put":"/portolan/services/web/instances/w1","ttl":30,"value":"{...}"}]}	1c2d3e4f</pre>
 * The ops of one change (a service and its VIP key, a service's deletion) share a line, so a change is
 * replayed whole or not at all; op {@code i} of a line is at revision {@code rev + i}. A put under a
 * lease carries the lease's TTL in seconds; {@code {"del":KEY}} deletes a key (and its lease).
 *
 * <p>Reading: a damaged line with no valid line after it is a torn tail (the process was killed, or
 * the host lost power, mid-append) and is ignored with a warning; a damaged line with valid lines
 * after it is an error naming the file, the line and its byte offset: nothing is dropped silently.
 */
public final class Journal implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Journal.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** One op as written and as replayed; {@code value} null for a delete, {@code ttl} 0 without a lease. */
    public record Op(String key, byte[] value, long ttl) {
        public static Op put(String key, byte[] value, long ttl) {
            return new Op(key, value, ttl);
        }

        public static Op delete(String key) {
            return new Op(key, null, 0);
        }
    }

    /** One replayed line: its first op's revision and its ops. */
    public record Change(long revision, List<Op> ops) {
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final Path file;
    private final ByteArrayOutputStream buf = new ByteArrayOutputStream(512);
    private final CRC32C crc = new CRC32C();
    private volatile FileChannel channel;
    private long size;
    private long records;
    private volatile boolean unsynced;

    /** Opens (creating) the journal for appending. */
    public Journal(Path file) throws IOException {
        this.file = file;
        this.channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        this.size = channel.size();
    }

    public Path file() {
        return file;
    }

    /** Ops written since this journal was started (what compaction weighs against the number of keys). */
    public long records() {
        return records;
    }

    /**
     * Appends one change as one line with one write; returns once the OS has it (a process kill
     * cannot lose it). On failure the file is cut back to its previous length, so a half-written line
     * is never followed by later ones.
     */
    public void append(long revision, List<Op> ops) {
        buf.reset();
        try (JsonGenerator g = MAPPER.getFactory().createGenerator(buf, JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeNumberField("rev", revision);
            g.writeArrayFieldStart("ops");
            for (Op op : ops) {
                g.writeStartObject();
                if (op.value() == null) {
                    g.writeStringField("del", op.key());
                } else {
                    g.writeStringField("put", op.key());
                    if (op.ttl() > 0) {
                        g.writeNumberField("ttl", op.ttl());
                    }
                    g.writeStringField("value", new String(op.value(), StandardCharsets.UTF_8));
                }
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a memory buffer
        }
        byte[] json = buf.toByteArray();
        crc.reset();
        crc.update(json, 0, json.length);
        byte[] tail = new byte[10];
        tail[0] = '\t';
        long sum = crc.getValue();
        for (int i = 8; i >= 1; i--, sum >>>= 4) {
            tail[i] = (byte) HEX[(int) (sum & 0xf)];
        }
        tail[9] = '\n';
        ByteBuffer out = ByteBuffer.allocate(json.length + tail.length).put(json).put(tail).flip();
        try {
            while (out.hasRemaining()) {
                channel.write(out);
            }
        } catch (IOException e) {
            try {
                channel.truncate(size);
            } catch (IOException ignored) {
                // the part-written line stays: ignored as a torn tail if nothing follows it, refused
                // naming its line (never dropped silently) if later appends succeed
                log.error("could not cut {} back to {} bytes after a failed append", file, size);
            }
            throw new UncheckedIOException("could not append to " + file + ": " + e.getMessage(), e);
        }
        size += json.length + tail.length;
        records += ops.size();
        unsynced = true;
    }

    /** fsync if anything was appended since the last one (the batched flush for power loss). */
    public void sync() {
        if (!unsynced) {
            return;
        }
        unsynced = false;
        try {
            channel.force(false);
        } catch (java.nio.channels.ClosedChannelException closed) {
            // rotated meanwhile: rotation forced it before closing
        } catch (IOException e) {
            unsynced = true;
            log.warn("could not fsync {}: {}", file, e.getMessage());
        }
    }

    /**
     * Closes this journal (after an fsync), renames it to {@code rotated} and starts a fresh, empty
     * one at the same path.
     */
    public void rotate(Path rotated) throws IOException {
        channel.force(false);
        Files.move(file, rotated, StandardCopyOption.ATOMIC_MOVE);
        FileChannel fresh;
        try {
            fresh = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            Files.move(rotated, file, StandardCopyOption.ATOMIC_MOVE); // keep appending to the one we had
            throw e;
        }
        FileChannel old = channel;
        channel = fresh;
        old.close();
        size = 0;
        records = 0;
        unsynced = false;
        syncDirectory(file.getParent());
    }

    /** fsync of a directory (after a rename in it), where the file system allows it. */
    public static void syncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException ignored) {
            // some file systems cannot fsync a directory
        }
    }

    @Override
    public void close() {
        try {
            channel.force(false);
            channel.close();
        } catch (IOException e) {
            log.warn("closing {}: {}", file, e.getMessage());
        }
    }

    // ---- reading ------------------------------------------------------------------------

    /** Reads every whole, valid line of {@code file}; see the class comment for damaged lines. */
    public static List<Change> read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new ValidationException("state-dir", file, "cannot read the journal: " + e.getMessage());
        }
        List<Change> changes = new ArrayList<>();
        int line = 0;
        int start = 0;
        while (start < bytes.length) {
            line++;
            int end = start;
            while (end < bytes.length && bytes[end] != '\n') {
                end++;
            }
            boolean whole = end < bytes.length;
            Object parsed = whole ? parse(bytes, start, end) : "no end of line";
            if (parsed instanceof Change c) {
                changes.add(c);
            } else if (!whole || !validLineAfter(bytes, end + 1)) {
                log.warn("{}: ignoring a torn last record at line {} (byte offset {}, {} bytes: {}); the agent was stopped,"
                        + " or the host lost power, while writing it", file, line, start, bytes.length - start, parsed);
                break;
            } else {
                throw new ValidationException("state-dir", file, "line " + line + " (byte offset " + start + ") is damaged ("
                        + parsed + ") and valid records follow it; refusing to drop them silently: repair or remove that line,"
                        + " or move the file away to lose the changes it holds");
            }
            start = end + 1;
        }
        return changes;
    }

    private static boolean validLineAfter(byte[] bytes, int from) {
        int start = from;
        while (start < bytes.length) {
            int end = start;
            while (end < bytes.length && bytes[end] != '\n') {
                end++;
            }
            if (end < bytes.length && parse(bytes, start, end) instanceof Change) {
                return true;
            }
            start = end + 1;
        }
        return false;
    }

    /** A {@link Change}, or a String saying what is wrong with the line. */
    private static Object parse(byte[] bytes, int start, int end) {
        int tab = end - 9;
        if (tab < start || bytes[tab] != '\t') {
            return "no checksum";
        }
        long want;
        try {
            want = Long.parseLong(new String(bytes, tab + 1, 8, StandardCharsets.US_ASCII), 16);
        } catch (NumberFormatException e) {
            return "no checksum";
        }
        CRC32C crc = new CRC32C();
        crc.update(bytes, start, tab - start);
        if (crc.getValue() != want) {
            return "checksum mismatch";
        }
        try {
            JsonNode root = MAPPER.readTree(bytes, start, tab - start);
            long rev = root.path("rev").asLong(-1);
            JsonNode ops = root.path("ops");
            if (rev < 1 || !ops.isArray() || ops.isEmpty()) {
                return "not a journal record";
            }
            List<Op> out = new ArrayList<>(ops.size());
            for (JsonNode op : ops) {
                if (op.hasNonNull("del")) {
                    out.add(Op.delete(op.get("del").asText()));
                } else if (op.hasNonNull("put") && op.path("value").isTextual()) {
                    out.add(Op.put(op.get("put").asText(), op.get("value").textValue().getBytes(StandardCharsets.UTF_8),
                            op.path("ttl").asLong(0)));
                } else {
                    return "an op that is neither put nor del";
                }
            }
            return new Change(rev, out);
        } catch (IOException e) {
            return "not JSON: " + e.getMessage();
        }
    }
}
