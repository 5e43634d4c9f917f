package io.portolan.dns.answer;

/**
 * A precomputed answer: the header bits and the encoded records that follow the question. The
 * question itself is copied from the client's packet at answer time, so one {@code Answer} serves
 * any letter case of the name and, for negative answers, any query type. Answer records name their
 * owner with a compression pointer to the question (offset 12), which stays valid for that reason.
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
    public static final Answer REFUSED_EMPTY = new Answer(REFUSED, false, new byte[0], 0, 0, 0, 0);
    public static final Answer SERVFAIL_EMPTY = new Answer(SERVFAIL, false, new byte[0], 0, 0, 0, 0);
    public static final Answer NOTIMP_EMPTY = new Answer(WireQuery.NOTIMP, false, new byte[0], 0, 0, 0, 0);
    public static final Answer FORMERR_EMPTY = new Answer(WireQuery.FORMERR, false, new byte[0], 0, 0, 0, 0);
    public static final Answer BADVERS_EMPTY = new Answer(WireQuery.BADVERS, false, new byte[0], 0, 0, 0, 0);

    final int rcode;
    final boolean authoritative;
    final byte[] body;
    final int an;
    final int ns;
    final int ar;
    final int shuffleLength;

    Answer(int rcode, boolean authoritative, byte[] body, int an, int ns, int ar, int shuffleLength) {
        this.rcode = rcode;
        this.authoritative = authoritative;
        this.body = body;
        this.an = an;
        this.ns = ns;
        this.ar = ar;
        this.shuffleLength = an > 1 ? shuffleLength : 0;
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
