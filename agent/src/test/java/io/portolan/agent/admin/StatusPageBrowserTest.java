package io.portolan.agent.admin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import io.portolan.agent.Agent;
import io.portolan.agent.config.AgentConfig;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Chromium;
import io.portolan.agent.testing.EtcdServer;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The status page in a real browser (headless Chromium): it lists what is registered, shows a new
 * registration without a reload, filters, and shows the relay's traffic and the DNS counters. An
 * agent in this host's namespace, so the userspace plane with VIPs in 127.0.0.0/8 and DNS on a
 * loopback port; the instance behind the VIP is a real HTTP server on loopback.
 */
class StatusPageBrowserTest {
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    final ObjectMapper json = new ObjectMapper();

    JsonNode register(Agent a, String body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + a.adminAddress().getPort() + "/v1/instances"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(201, r.statusCode(), r.body());
        return json.readTree(r.body());
    }

    static List<String> texts(Chromium c, String selector, String attribute) throws Exception {
        List<String> out = new ArrayList<>();
        JsonNode v = c.eval("Array.from(document.querySelectorAll('" + selector + "')).map(e => e.getAttribute('" + attribute + "'))");
        v.forEach(n -> out.add(n.asText()));
        return out;
    }

    @Test
    void page_listsShowsNewRegistrationsLive_filters_andShowsTrafficAndDns() throws Exception {
        HttpServer backend = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        backend.createContext("/", ex -> {
            byte[] body = "hello from web-a\n".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        backend.start();
        int port = backend.getAddress().getPort();
        int dnsPort = EtcdServer.freePort();
        Agent agent = Agent.start(AgentConfig.parse(new String[] {"--state-dir", Files.createTempDirectory("status-page").toString(),
                "--admin-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:" + dnsPort,
                "--vip-cidr", "127.79.13.0/24", "--dataplane", "userspace", "--node", "status-node"}));
        Path target = Path.of("target");
        try (Chromium chrome = new Chromium(1400, 860, target.resolve("chromium-status-page.log"))) {
            Await.until("agent loaded", 10_000, () -> agent.state().loaded());
            JsonNode web = register(agent, "{\"service\":\"web-a\",\"id\":\"web-a-1\",\"address\":\"127.0.0.1\",\"ports\":[{\"name\":\"http\",\"port\":"
                    + port + "}],\"ttl\":60}");
            register(agent, "{\"service\":\"db-b\",\"id\":\"db-b-1\",\"address\":\"127.0.0.1\",\"mode\":\"dnsrr\",\"ports\":[{\"port\":5432}],\"ttl\":60}");
            String vip = web.get("vip").asText();
            assertTrue(vip.startsWith("127.79.13."), vip);
            // traffic through the VIP, for the page's traffic column
            URI viaVip = URI.create("http://" + vip + ":" + port + "/");
            Await.until("the VIP reaches the backend", 10_000, () -> {
                try {
                    return http.send(HttpRequest.newBuilder(viaVip).timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString())
                            .body().contains("web-a");
                } catch (Exception e) {
                    return false;
                }
            });
            for (int i = 0; i < 3; i++) {
                assertEquals(200, http.send(HttpRequest.newBuilder(viaVip).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode());
            }
            // DNS: an answer and an NXDOMAIN, with the real dig
            assertTrue(dig(dnsPort, "web-a.portolan.internal").contains(vip));
            assertTrue(dig(dnsPort, "nosuch.portolan.internal").contains("NXDOMAIN"));

            chrome.navigate("http://127.0.0.1:" + agent.adminAddress().getPort() + "/");
            Await.until("the page lists web-a and its instance", 10_000, () ->
                    chrome.evalQuietly("!!document.querySelector('[data-instance=\"web-a/web-a-1\"]')").asBoolean());
            String webRow = chrome.eval("document.querySelector('[data-service=\"web-a\"]').innerText").asText();
            assertTrue(webRow.contains(vip) && webRow.contains("vip") && webRow.contains("http:" + port + "/tcp"), webRow);
            String instRow = chrome.eval("document.querySelector('[data-instance=\"web-a/web-a-1\"]').innerText").asText();
            assertTrue(instRow.contains("127.0.0.1") && instRow.contains("status-node") && instRow.contains("healthy"), instRow);
            Await.until("the relay's connections to web-a-1 shown", 5_000, () -> chrome.evalQuietly(
                    "document.querySelector('[data-instance=\"web-a/web-a-1\"]').innerText").asText().matches("(?s).*[1-9]\\d* conns.*"));
            Await.until("the DNS card counts the NXDOMAIN", 5_000, () -> chrome.evalQuietly("document.getElementById('dns').innerText")
                    .asText().matches("(?s).*NXDOMAIN\\s+\\S+ \\([1-9]\\d*\\).*"));
            String cards = chrome.eval("document.getElementById('cards').innerText").asText();
            assertTrue(cards.contains("local") && cards.contains("userspace"), cards);

            // a new registration shows up by itself, within 2 s, without a reload
            chrome.eval("window.__sameDocument = 42");
            register(agent, "{\"service\":\"cache-c\",\"id\":\"cache-c-1\",\"address\":\"127.0.0.1\",\"ports\":[{\"port\":6379}],\"ttl\":60}");
            long shown = Await.until("cache-c shown without a reload", 2_000, () ->
                    chrome.evalQuietly("!!document.querySelector('[data-instance=\"cache-c/cache-c-1\"]')").asBoolean());
            assertEquals(42, chrome.eval("window.__sameDocument").asInt(), "the page was not reloaded");
            System.out.println("new registration shown after " + shown + " ms");
            assertEquals(List.of("cache-c", "db-b", "web-a"), texts(chrome, "#window .svc", "data-service"));
            chrome.screenshot(target.resolve("status-page.png"));

            // the filter hides the others, and clearing it brings them back
            chrome.type("#filter", "web-a");
            Await.until("only web-a left", 3_000, () -> {
                try {
                    return texts(chrome, "#window .svc", "data-service").equals(List.of("web-a"));
                } catch (Exception e) {
                    return false;
                }
            });
            assertEquals(List.of("web-a/web-a-1"), texts(chrome, "#window .inst", "data-instance"));
            assertTrue(chrome.eval("document.getElementById('count').innerText").asText().startsWith("1 of 3 services"));
            chrome.screenshot(target.resolve("status-page-filtered.png"));
            chrome.eval("(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()");
            Await.until("all three back", 3_000, () -> {
                try {
                    return texts(chrome, "#window .svc", "data-service").size() == 3;
                } catch (Exception e) {
                    return false;
                }
            });
        } finally {
            agent.close();
            backend.stop(0);
        }
    }

    @Test
    void page_atScale_drawsOnlyTheRowsInView_scrollsToTheEnd_andFilters() throws Exception {
        try (StatusFixture fx = new StatusFixture(10_000, 10);
             Chromium chrome = new Chromium(1400, 860, Path.of("target", "chromium-status-page-scale.log"))) {
            chrome.navigate(fx.url("/"));
            Await.until("10,000 services loaded", 120_000, () ->
                    chrome.evalQuietly("document.getElementById('count').innerText").asText().equals("10000 services, 100000 instances"));
            int drawn = chrome.eval("document.querySelectorAll('#window .r').length").asInt();
            assertTrue(drawn > 10 && drawn < 200, "virtual scrolling draws the rows in view, not 110,000: " + drawn);
            assertEquals("svc-0", chrome.eval("document.querySelector('#window .svc').dataset.service").asText());
            // the spacer holds every row's height; scrolled to the end, the last service's rows are drawn
            chrome.eval("(() => { const s = document.getElementById('scroll'); s.scrollTop = s.scrollHeight; s.dispatchEvent(new Event('scroll')); })()");
            Await.until("the last rows drawn", 10_000, () ->
                    chrome.evalQuietly("!!document.querySelector('[data-instance=\"svc-9999/i-9\"]')").asBoolean());
            chrome.screenshot(Path.of("target", "status-page-10000x10.png"));
            chrome.type("#filter", "svc-4242 unhealthy");
            Await.until("only svc-4242's unhealthy instance", 30_000, () -> {
                try {
                    return texts(chrome, "#window .svc", "data-service").equals(List.of("svc-4242"))
                            && texts(chrome, "#window .inst", "data-instance").equals(List.of("svc-4242/i-3"));
                } catch (Exception e) {
                    return false;
                }
            });
            assertEquals("1 of 10000 services, 1 of 100000 instances", chrome.eval("document.getElementById('count').innerText").asText());
            JsonNode timings = chrome.eval("window.portolanTimings");
            System.out.println("10,000 x 10 in Chromium: " + timings);
            assertEquals(1, timings.path("loads").asInt(), "the document was loaded once: later polls got 304");
        }
    }

    static String dig(int port, String name) throws Exception {
        Process p = new ProcessBuilder(List.of("dig", "@127.0.0.1", "-p", Integer.toString(port), "+time=2", "+tries=1", name, "A"))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS), "dig finished");
        return out;
    }
}
