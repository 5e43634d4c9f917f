package io.portolan.dns.bench;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.portolan.dns.answer.Answer;
import io.portolan.dns.answer.Responses;
import io.portolan.dns.answer.WireQuery;
import io.portolan.dns.answer.ZoneTable;
import io.portolan.dns.testing.Dns;
import io.portolan.proto.testing.Snapshots;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.xbill.DNS.ARecord;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Flags;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.Type;

/**
 * The answer path alone, in process, one thread: portolan's byte-level path (parse the header and
 * question, one look-up, copy precomputed records) against the obvious dnsjava path (parse the
 * message, look the name up, build a response message, render it). Prints ns per query for each,
 * in alternating rounds. Run: {@code java -cp ... io.portolan.dns.bench.AnswerPathBench}.
 */
public final class AnswerPathBench {
    private AnswerPathBench() {
    }

    public static void main(String[] args) throws Exception {
        // An event-loop-like thread, so that the pooled allocator uses its thread cache as on the server.
        Throwable[] failure = new Throwable[1];
        Thread t = new io.netty.util.concurrent.FastThreadLocalThread(() -> {
            try {
                run(args);
            } catch (Throwable e) {
                failure[0] = e;
            }
        });
        t.start();
        t.join();
        if (failure[0] != null) {
            throw new IllegalStateException(failure[0]);
        }
    }

    static void run(String[] args) throws Exception {
        int n = 1000;
        String z = "portolan.internal.";
        Snapshots s = Snapshots.builder();
        Map<Name, Record> records = new HashMap<>();
        for (int i = 0; i < n; i++) {
            s.vip("svc" + i, BenchServer.address(i));
            Name name = Name.fromString("svc" + i + "." + z);
            records.put(name, new ARecord(name, DClass.IN, 5, InetAddress.getByName(BenchServer.address(i))));
        }
        ZoneTable table = ZoneTable.build(s.build(1), z, 5, List.of());
        byte[][] queries = new byte[n][];
        for (int i = 0; i < n; i++) {
            queries[i] = Dns.query("svc" + i + "." + z, Type.A);
        }
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int perRound = 2_000_000;
        for (int r = 0; r < rounds; r++) {
            long t0 = System.nanoTime();
            long sink = bytesPath(table, queries, perRound);
            long t1 = System.nanoTime();
            sink += dnsjavaPath(records, queries, perRound / 10);
            long t2 = System.nanoTime();
            System.out.printf("round %d: byte-level %.0f ns/query, dnsjava %.0f ns/query (%d)%n", r,
                    (t1 - t0) / (double) perRound, (t2 - t1) / (double) (perRound / 10), sink & 1);
        }
    }

    static long bytesPath(ZoneTable table, byte[][] queries, int count) {
        WireQuery q = new WireQuery();
        long sink = 0;
        for (int i = 0; i < count; i++) {
            byte[] in = queries[i % queries.length];
            System.arraycopy(in, 0, q.buffer(in.length), 0, in.length);
            q.parse(in.length);
            Answer a = table.answer(q);
            ByteBuf out = Responses.write(PooledByteBufAllocator.DEFAULT, q, a, Responses.udpLimit(q), false);
            sink += out.readableBytes();
            out.release();
        }
        return sink;
    }

    static long dnsjavaPath(Map<Name, Record> records, byte[][] queries, int count) throws Exception {
        long sink = 0;
        for (int i = 0; i < count; i++) {
            Message q = new Message(queries[i % queries.length]);
            Record question = q.getQuestion();
            Message r = new Message(q.getHeader().getID());
            r.getHeader().setFlag(Flags.QR);
            r.getHeader().setFlag(Flags.AA);
            r.addRecord(question, Section.QUESTION);
            Record a = records.get(question.getName());
            if (a != null) {
                r.addRecord(a, Section.ANSWER);
            }
            sink += r.toWire(512).length;
        }
        return sink;
    }
}
