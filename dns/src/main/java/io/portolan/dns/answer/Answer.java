package io.portolan.dns.answer;

/**
 * A precomputed answer: the header bits and the encoded records that follow the question. The
 * question itself is copied from the client's packet at answer time, so one {@code Answer} serves
 * any letter case of the name and, for negative answers, any query type. Answer records name their
 * owner with a compression pointer to the question (offset 12), which stays valid for that reason.
 *
 * <p>An answer knows the record type it answers ({@link #type()}, 0 for negative and error answers):
 * a name with records of one type only is stored in the table as its answer alone, no per-name
 * entry around it (most names are: an instance's A record, a reverse name's PTR, an SRV name).
 * The counts are 16-bit in the packet and held as such (a table holds 300,000 answers at 10,000
 * services).
 *
 * <p>When {@link #shuffleLength()} is positive, the first {@link #answerCount()} records all have
 * that length and are written in a fresh random order for every response (dnsrr).
 */
public final class Answer {
    public static final int NOERROR = 0;
    public static final int SERVFAIL = 2;
    public static final int NXDOMAIN = 3;
    public static final int REFUSED = 5;

    /** REFUSED, not authoritative, nothing after the question. */
    public static final Answer REFUSED_EMPTY = new Answer(0, REFUSED, false, new byte[0], 0, 0, 0, 0);
    public static final Answer SERVFAIL_EMPTY = new Answer(0, SERVFAIL, false, new byte[0], 0, 0, 0, 0);
    public static final Answer NOTIMP_EMPTY = new Answer(0, WireQuery.NOTIMP, false, new byte[0], 0, 0, 0, 0);
    public static final Answer FORMERR_EMPTY = new Answer(0, WireQuery.FORMERR, false, new byte[0], 0, 0, 0, 0);
    public static final Answer BADVERS_EMPTY = new Answer(0, WireQuery.BADVERS, false, new byte[0], 0, 0, 0, 0);

    final byte[] body;
    final char type;
    final char an;
    final char ns;
    final char ar;
    final char shuffleLength;
    final byte rcode;
    final boolean authoritative;

    Answer(int type, int rcode, boolean authoritative, byte[] body, int an, int ns, int ar, int shuffleLength) {
        if ((type | an | ns | ar | shuffleLength) >>> 16 != 0 || (rcode >>> 7) != 0) {
            throw new IllegalArgumentException("answer field out of range: type " + type + ", rcode " + rcode + ", counts "
                    + an + "/" + ns + "/" + ar + ", record length " + shuffleLength);
        }
        this.type = (char) type;
        this.rcode = (byte) rcode;
        this.authoritative = authoritative;
        this.body = body;
        this.an = (char) an;
        this.ns = (char) ns;
        this.ar = (char) ar;
        this.shuffleLength = (char) (an > 1 ? shuffleLength : 0);
    }

    /** The record type this answer answers (its records' type); 0 for negative and error answers. */
    public int type() {
        return type;
    }

    public int rcode() {
        return rcode;
    }

    public int answerCount() {
        return an;
    }

    public int shuffleLength() {
        return shuffleLength;
    }

    public boolean authoritative() {
        return authoritative;
    }
}
