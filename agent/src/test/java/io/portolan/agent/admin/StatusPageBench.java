package io.portolan.agent.admin;

import com.fasterxml.jackson.databind.JsonNode;
import io.portolan.agent.testing.Await;
import io.portolan.agent.testing.Chromium;

import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * The status page at 10,000 services × 10 instances (bench/statuspage/run.sh): what one poll costs
 * the agent when nothing changed (304 on the kept document's ETag), next to the cached document
 * (gzip), the agent-state document, and, as the peer, {@code GET /v1/snapshot}, which serializes the
 * whole snapshot per request; then the page's load and filter times in headless Chromium. Requests
 * go over one kept-alive connection; every loop is bounded in count and in time (60 s). CPU is the
 * whole process's (server and client share it), per request.
 * Usage: StatusPageBench [services] [instances] [requests] [rounds]
 */
public final class StatusPageBench {
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    record Figure(double perSecond, double cpuMicros, long bytes) {
    }

    public static void main(String[] args) throws Exception {
        int services = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int instances = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        try (StatusFixture fx = new StatusFixture(services, instances)) {
            long t0 = System.nanoTime();
            HttpResponse<byte[]> first = get(fx, "/v1/status/services", Map.of());
            double firstMs = (System.nanoTime() - t0) / 1e6;
            String etag = first.headers().firstValue("ETag").orElseThrow();
            System.out.printf("%d services x %d instances: services document %,d bytes (%,d gzipped), first request (serializes it) %.0f ms%n",
                    services, instances, first.body().length,
                    get(fx, "/v1/status/services", Map.of("Accept-Encoding", "gzip")).body().length, firstMs);
            for (int r = 1; r <= rounds; r++) {
                Figure notModified = loop(fx, "/v1/status/services", Map.of("If-None-Match", etag), n, 304);
                Figure cached = loop(fx, "/v1/status/services", Map.of("Accept-Encoding", "gzip"), Math.max(5, n / 10), 200);
                Figure status = loop(fx, "/v1/status", Map.of(), n, 200);
                Figure snapshot = loop(fx, "/v1/snapshot", Map.of("Accept-Encoding", "gzip"), Math.max(5, n / 10), 200);
                System.out.printf("round %d: 304 poll %,.0f req/s %,.0f us CPU | cached gzip %,.0f req/s %,.0f us | /v1/status %,.0f req/s %,.0f us"
                                + " | peer /v1/snapshot %,.1f req/s %,.0f us (%,d bytes) | CPU per request: snapshot / 304 = %,.0fx%n",
                        r, notModified.perSecond, notModified.cpuMicros, cached.perSecond, cached.cpuMicros, status.perSecond, status.cpuMicros,
                        snapshot.perSecond, snapshot.cpuMicros, snapshot.bytes, snapshot.cpuMicros / notModified.cpuMicros);
            }
            if (fx.admin.statusDocumentsBuilt() != 1) {
                throw new IllegalStateException("the document was serialized " + fx.admin.statusDocumentsBuilt() + " times, not once");
            }
            browser(fx, services, instances);
        }
    }

    static void browser(StatusFixture fx, int services, int instances) throws Exception {
        try (Chromium chrome = new Chromium(1400, 860, Path.of("target", "chromium-status-bench.log"))) {
            // the longest main-thread task (the browser's own long-task timing: >50 ms) while loading and filtering
            chrome.call("Page.addScriptToEvaluateOnNewDocument", Map.of("source", "window.__longest = 0; new PerformanceObserver(l => "
                    + "l.getEntries().forEach(e => window.__longest = Math.max(window.__longest, e.duration))).observe({type: 'longtask'});"));
            String want = services + " services, " + (services * instances) + " instances";
            long t0 = System.nanoTime();
            chrome.navigate(fx.url("/"));
            Await.until("loaded", 120_000, () -> chrome.evalQuietly("document.getElementById('count').innerText").asText().equals(want));
            double shownMs = (System.nanoTime() - t0) / 1e6;
            Thread.sleep(1_500); // the filter's text is built in slices after the load; let it finish
            double loadLongest = chrome.eval("window.__longest").asDouble();
            chrome.eval("window.__longest = 0");
            chrome.type("#filter", "svc-4242");
            Await.until("filtered", 30_000, () -> chrome.evalQuietly("document.getElementById('count').innerText").asText()
                    .startsWith("1 of " + services + " services"));
            Thread.sleep(300);
            JsonNode t = chrome.eval("window.portolanTimings");
            System.out.printf("chromium: table shown %.0f ms after navigation (body %.0f ms, JSON.parse %.0f ms, rows %.0f ms); "
                            + "longest main-thread task while loading %.0f ms; typed filter %.0f ms (longest task %.0f ms); rows in the DOM %d%n",
                    shownMs, t.path("bodyMs").asDouble(), t.path("parseMs").asDouble(), t.path("filterMs").asDouble(), loadLongest,
                    t.path("typedFilterMs").asDouble(), chrome.eval("window.__longest").asDouble(),
                    chrome.eval("document.querySelectorAll('#window .r').length").asInt());
        }
    }

    static HttpResponse<byte[]> get(StatusFixture fx, String path, Map<String, String> headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(fx.url(path))).timeout(Duration.ofSeconds(60));
        headers.forEach(b::header);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    /** {@code n} requests (at most 60 s of them) on the one kept-alive connection: rate, process CPU per request, bytes of the last. */
    static Figure loop(StatusFixture fx, String path, Map<String, String> headers, int n, int status) throws Exception {
        get(fx, path, headers); // warm
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        long cpu0 = OS.getProcessCpuTime();
        long t0 = System.nanoTime();
        int done = 0;
        long bytes = 0;
        while (done < n && System.nanoTime() < deadline) {
            HttpResponse<byte[]> r = get(fx, path, headers);
            if (r.statusCode() != status) {
                throw new IllegalStateException(path + ": " + r.statusCode() + ", not " + status);
            }
            bytes = r.body().length;
            done++;
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        return new Figure(done / seconds, (OS.getProcessCpuTime() - cpu0) / 1e3 / done, bytes);
    }
}
