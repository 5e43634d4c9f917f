package io.portolan.agent.registry.etcd;

import io.etcd.jetcd.Client;
import io.etcd.jetcd.common.exception.ErrorCode;
import io.etcd.jetcd.common.exception.EtcdExceptionFactory;
import io.grpc.Status;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which member a registry talks to, and when it leaves it (clients built, never called: no etcd needed). */
class MembersTest {
    static final List<URI> THREE = List.of(URI.create("http://127.0.0.1:1"), URI.create("http://127.0.0.1:2"), URI.create("http://127.0.0.1:3"));

    @Test
    void failed_movesToTheNextInOrder_wrapsAround_freshClient_andIgnoresStaleReports() throws Exception {
        List<Client> built = new ArrayList<>();
        try (Members m = new Members(THREE, e -> {
            Client c = Client.builder().endpoints(e).build();
            built.add(c);
            return c;
        }, 2)) {
            Members.Member first = m.current();
            assertEquals(THREE.get(2), first.endpoint(), "starts where told");
            assertSame(first, m.current(), "one client while nothing failed");
            assertSame(first, m.failed(first, "too young"), "not left within " + Members.MIN_AGE_MS + " ms of being taken");
            Thread.sleep(Members.MIN_AGE_MS + 50);
            Members.Member second = m.failed(first, "test");
            assertEquals(THREE.get(0), second.endpoint(), "after the last, the first");
            assertEquals(2, built.size(), "a fresh client for the next member");
            Thread.sleep(Members.MIN_AGE_MS + 50);
            assertSame(second, m.failed(first, "a late report about a member already left"), "a stale report changes nothing");
            Members.Member third = m.failed(second, "test");
            assertEquals(THREE.get(1), third.endpoint());
            assertNotSame(second, third);
        }
    }

    @Test
    void oneEndpoint_failedTakesItAgain_throughANewClient() throws Exception {
        List<Client> built = new ArrayList<>();
        try (Members m = new Members(THREE.subList(0, 1), e -> {
            Client c = Client.builder().endpoints(e).build();
            built.add(c);
            return c;
        }, 0)) {
            Members.Member a = m.current();
            Thread.sleep(Members.MIN_AGE_MS + 50);
            Members.Member b = m.failed(a, "test");
            assertEquals(a.endpoint(), b.endpoint());
            assertNotSame(a.client(), b.client());
            assertEquals(2, built.size());
        }
    }

    @Test
    void firstMember_randomSpreadsOverAll_listedFirstIsTheFirst() {
        EtcdAccess random = EtcdAccess.plain(THREE);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 300; i++) {
            seen.add(random.firstMember());
        }
        assertEquals(Set.of(0, 1, 2), seen, "300 random starts over 3 members reach each");
        EtcdAccess first = random.listedFirst(true);
        for (int i = 0; i < 50; i++) {
            assertEquals(0, first.firstMember());
        }
        assertEquals(0, EtcdAccess.plain(THREE.subList(1, 2)).firstMember());
        assertThrows(IllegalArgumentException.class, () -> new Members(THREE, e -> null, 3));
    }

    @Test
    void memberFailure_unreachableOrNoLeaderLeaves_anAnswerDoesNot() {
        assertTrue(EtcdRegistry.memberFailure(EtcdExceptionFactory.toEtcdException(Status.UNAVAILABLE.withDescription("connection refused"))));
        assertTrue(EtcdRegistry.memberFailure(new RuntimeException(EtcdExceptionFactory.toEtcdException(
                Status.UNAVAILABLE.withDescription("etcdserver: no leader")))));
        assertTrue(EtcdRegistry.memberFailure(EtcdExceptionFactory.toEtcdException(Status.DEADLINE_EXCEEDED)));
        assertFalse(EtcdRegistry.memberFailure(EtcdExceptionFactory.toEtcdException(Status.NOT_FOUND.withDescription(
                "etcdserver: requested lease not found"))));
        assertFalse(EtcdRegistry.memberFailure(EtcdExceptionFactory.toEtcdException(Status.PERMISSION_DENIED)));
        assertFalse(EtcdRegistry.memberFailure(EtcdExceptionFactory.toEtcdException(Status.RESOURCE_EXHAUSTED.withDescription(
                "etcdserver: mvcc: database space exceeded"))));
        assertFalse(EtcdRegistry.memberFailure(EtcdExceptionFactory.newEtcdException(ErrorCode.INVALID_ARGUMENT, "bad")));
        // etcd's own answer (the member is there) against a failure to reach it
        assertTrue(EtcdRegistry.answeredByEtcd("etcdserver: no leader"));
        assertTrue(EtcdRegistry.answeredByEtcd("UNAVAILABLE: etcdserver: request timed out"));
        assertFalse(EtcdRegistry.answeredByEtcd("UNAVAILABLE: io exception"));
        assertFalse(EtcdRegistry.answeredByEtcd(null));
    }
}
