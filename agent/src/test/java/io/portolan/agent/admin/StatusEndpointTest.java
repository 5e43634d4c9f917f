package io.portolan.agent.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.portolan.proto.Instance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The status page's endpoints at the scale we target, 10,000 services × 10 instances: the whole
 * table in one compact document, serialized once per snapshot, 304 while the snapshot is unchanged.
 */
class StatusEndpointTest {
    static final int SERVICES = 10_000;
    static final int INSTANCES = 10;
    static StatusFixture fx;
    final HttpClient http = HttpClient.newHttpClient();
    final ObjectMapper json = new ObjectMapper();

    @BeforeAll
    static void load() throws Exception {
        fx = new StatusFixture(SERVICES, INSTANCES);
    }

    @AfterAll
    static void close() {
        fx.close();
    }

    HttpResponse<byte[]> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fx.url(path)));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    @Test
    void services_atScale_listsEveryInstance_then304AndKeptBytesWhileUnchanged() throws Exception {
        HttpResponse<byte[]> first = get("/v1/status/services");
        assertEquals(200, first.statusCode());
        String etag = first.headers().firstValue("ETag").orElseThrow();
        long built = fx.admin.statusDocumentsBuilt();
        JsonNode doc = json.readTree(first.body());
        assertEquals(fx.revision, doc.get("revision").asLong());
        JsonNode services = doc.get("services");
        assertEquals(SERVICES, services.size());
        int instances = 0;
        for (JsonNode s : services) {
            instances += s.get(5).size();
        }
        assertEquals(SERVICES * INSTANCES, instances);
        // services come sorted by name: find svc-1234 and check what the page shows of it
        JsonNode svc = null;
        for (JsonNode s : services) {
            if (s.get(0).asText().equals("svc-1234")) {
                svc = s;
            }
        }
        assertNotNull(svc, "svc-1234 listed");
        assertEquals("vip", svc.get(1).asText());
        assertEquals("10.96.4.235", svc.get(2).asText());
        assertEquals("http:80/tcp", svc.get(3).asText());
        JsonNode inst = svc.get(5).get(3); // i-3 of service 1234: n = 12343, 12343 % 7 == 2: healthy
        assertEquals("i-3", inst.get(0).asText());
        assertEquals("node-43", inst.get(1).asText());
        assertEquals("10.1.49.94", inst.get(2).asText());
        assertEquals(100, inst.get(3).asInt());
        assertEquals("healthy", inst.get(4).asText());
        JsonNode sick = svc.get(5).get(4); // i-4: n = 12344, % 7 == 3: unhealthy, with the check's reason
        assertEquals("unhealthy", sick.get(4).asText());
        assertEquals("connect refused", sick.get(5).asText());
        assertTrue(doc.get("services").get(0).get(4).asText().startsWith("30000:80"), "svc-0 shows its published port");

        // unchanged: 304 with no body, nothing serialized again
        for (int n = 0; n < 20; n++) {
            HttpResponse<byte[]> again = get("/v1/status/services", "If-None-Match", etag);
            assertEquals(304, again.statusCode());
            assertEquals(0, again.body().length);
        }
        // without the ETag: the same bytes, kept, not serialized again; gzipped when asked for
        HttpResponse<byte[]> plain = get("/v1/status/services");
        assertArrayEquals(first.body(), plain.body());
        HttpResponse<byte[]> gz = get("/v1/status/services", "Accept-Encoding", "gzip");
        assertEquals("gzip", gz.headers().firstValue("Content-Encoding").orElse(""));
        assertTrue(gz.body().length * 4 < first.body().length, "gzip shrinks " + first.body().length + " bytes to " + gz.body().length);
        assertArrayEquals(first.body(), new GZIPInputStream(new ByteArrayInputStream(gz.body())).readAllBytes());
        assertEquals(built, fx.admin.statusDocumentsBuilt(), "no serialization while the snapshot is unchanged");
        System.out.printf("services document: %d services, %d instances, %d bytes, %d gzipped%n", SERVICES, instances,
                first.body().length, gz.body().length);

        // a change: a new ETag, the new instance in the document, and the old ETag gets 200
        fx.put(StatusFixture.instance("svc-42", "late-one", 7));
        HttpResponse<byte[]> changed = get("/v1/status/services", "If-None-Match", etag);
        assertEquals(200, changed.statusCode());
        String etag2 = changed.headers().firstValue("ETag").orElseThrow();
        assertNotEquals(etag, etag2);
        assertTrue(new String(changed.body(), StandardCharsets.UTF_8).contains("\"late-one\""));
        assertEquals(built + 1, fx.admin.statusDocumentsBuilt());
        assertEquals(304, get("/v1/status/services", "If-None-Match", etag2).statusCode());
    }

    @Test
    void status_namesTheStoreTheRevisionAndTheCounts() throws Exception {
        HttpResponse<byte[]> r = get("/v1/status");
        assertEquals(200, r.statusCode());
        JsonNode st = json.readTree(r.body());
        assertEquals("node-a", st.get("node").asText());
        assertEquals("local", st.path("registry").path("kind").asText());
        assertTrue(st.path("registry").path("loaded").asBoolean());
        assertTrue(st.path("registry").path("lastEvent").isNumber(), "the listing counts as the last event");
        assertEquals(fx.state.revision(), st.path("registry").path("revision").asLong());
        assertEquals(SERVICES, st.path("snapshot").path("services").asInt());
        assertTrue(st.path("snapshot").path("instances").asInt() >= SERVICES * INSTANCES);
        assertEquals("none", st.path("dataplane").path("name").asText());
        assertTrue(!st.path("dns").path("enabled").asBoolean(), "no DNS server in this fixture");
    }

    @Test
    void page_isServedFromTheJar_andOnlyToGet() throws Exception {
        HttpResponse<byte[]> r = get("/");
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
        String html = new String(r.body(), StandardCharsets.UTF_8);
        assertTrue(html.contains("/v1/status/services"), "the page polls the services document");
        assertTrue(!html.contains("http://") && !html.contains("https://"), "nothing fetched from elsewhere");
        HttpResponse<String> post = http.send(HttpRequest.newBuilder(URI.create(fx.url("/")))
                .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(405, post.statusCode());
    }
}
