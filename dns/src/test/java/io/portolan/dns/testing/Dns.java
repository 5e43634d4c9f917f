package io.portolan.dns.testing;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.xbill.DNS.DClass;
import org.xbill.DNS.Message;
import org.xbill.DNS.Name;
import org.xbill.DNS.OPTRecord;
import org.xbill.DNS.Record;
import org.xbill.DNS.Section;
import org.xbill.DNS.TextParseException;
import org.xbill.DNS.Type;

/** dnsjava helpers: queries as wire bytes, records written as zone-file text, sections as sorted text. */
public final class Dns {
    private Dns() {
    }

    public static byte[] query(String name, int type) {
        return query(name, type, DClass.IN, -1);
    }

    /** A query with RD set; {@code ednsSize} below 0 for no OPT record. */
    public static byte[] query(String name, int type, int dclass, int ednsSize) {
        try {
            Message m = Message.newQuery(Record.newRecord(Name.fromString(name), type, dclass));
            if (ednsSize >= 0) {
                m.addRecord(new OPTRecord(ednsSize, 0, 0), Section.ADDITIONAL);
            }
            return m.toWire();
        } catch (TextParseException e) {
            throw new IllegalArgumentException(e);
        }
    }

    public static Message parse(byte[] wire) {
        try {
            return new Message(wire);
        } catch (IOException e) {
            throw new AssertionError("unparseable response", e);
        }
    }

    /** {@code "web.z. 5 IN A 10.0.0.1"} as a record. */
    public static Record rr(String text) {
        String[] f = text.trim().split("\\s+", 5);
        try {
            return Record.fromString(Name.fromString(f[0]), Type.value(f[3]), DClass.value(f[2]), Long.parseLong(f[1]),
                    f[4], Name.root);
        } catch (IOException e) {
            throw new IllegalArgumentException(text, e);
        }
    }

    /** A section's records (OPT left out) as sorted lower-case text. */
    public static List<String> section(Message m, int section) {
        List<String> out = new ArrayList<>();
        for (Record r : m.getSection(section)) {
            if (r.getType() != Type.OPT) {
                out.add(r.toString().toLowerCase(Locale.ROOT).replaceAll("\\s+", " "));
            }
        }
        out.sort(null);
        return out;
    }

    public static List<String> texts(List<String> records) {
        List<String> out = new ArrayList<>();
        for (String s : records) {
            out.add(rr(s).toString().toLowerCase(Locale.ROOT).replaceAll("\\s+", " "));
        }
        out.sort(null);
        return out;
    }
}
