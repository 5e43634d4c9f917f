package io.portolan.agent.fleet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * What the fleet's scenarios run inside containers, as python3 scripts written into the fleet's
 * directory: a small HTTP server (the instance a {@code register -- SERVER} wraps) and a bounded
 * load client that counts successes, failures and answers per instance.
 */
public final class Workload {
    private Workload() {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The instance: HTTP/1.0 (a new connection per request), every GET answered with NAME; a listen
     * backlog of 512 (socketserver's default of 5 drops SYNs under load). Prints
     * {@code listening ADDR:PORT at MS} once bound and {@code SIGTERM at MS after N answers} when
     * told to stop, then dies of the signal as a server without a handler would (exit 143).
     */
    static final String SERVER_PY = """
            import http.server, os, signal, sys, threading, time
            bind, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
            body = (name + "\\n").encode()
            served = [0]
            lock = threading.Lock()
            def now():
                return int(time.time() * 1000)
            class Handler(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.0"
                def do_GET(self):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    with lock:
                        served[0] += 1
                def log_message(self, fmt, *args):
                    pass
            class Server(http.server.ThreadingHTTPServer):
                request_queue_size = 512
                daemon_threads = True
            def on_term(sig, frame):
                print("SIGTERM at %d after %d answers" % (now(), served[0]), flush=True)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)
            signal.signal(signal.SIGTERM, on_term)
            srv = Server((bind, port), Handler)
            print("listening %s:%d at %d" % (bind, port, now()), flush=True)
            srv.serve_forever()
            """;

    /**
     * The load client: {@code --rate} requests per second for at most {@code --seconds} (or until
     * SIGTERM/SIGINT), each a new connection (HTTP/1.0 GET), resolved each time when the URL names
     * a host, each bounded by {@code --timeout}. Then one JSON line: requests, ok, failed, answers
     * per body, latency p50/p99/max, the first 2,000 failures (epoch ms, phase, error) and the
     * answers per second.
     */
    static final String LOAD_PY = """
            import argparse, asyncio, json, signal, socket, sys, time
            from urllib.parse import urlsplit
            ap = argparse.ArgumentParser()
            ap.add_argument("--url", required=True)
            ap.add_argument("--rate", type=float, required=True)
            ap.add_argument("--seconds", type=float, required=True)
            ap.add_argument("--timeout", type=float, default=2.0)
            a = ap.parse_args()
            u = urlsplit(a.url)
            host, port, path = u.hostname, u.port or 80, u.path or "/"
            req = ("GET %s HTTP/1.0\\r\\nHost: %s\\r\\nUser-Agent: fleet-load\\r\\n\\r\\n" % (path, u.netloc)).encode()
            total = int(a.rate * a.seconds)
            try:
                socket.inet_aton(host)
                literal = True
            except OSError:
                literal = False
            answers, per_second, failures, latencies = {}, {}, [], []
            counts = {"ok": 0, "failed": 0}
            def ms():
                return int(time.time() * 1000)
            async def one(t0):
                loop = asyncio.get_running_loop()
                phase, w, start = "resolve", None, time.time()
                try:
                    async def go():
                        nonlocal phase, w
                        addr = host
                        if not literal:
                            infos = await loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
                            addr = infos[0][4][0]
                        phase = "connect"
                        r, w = await asyncio.open_connection(addr, port)
                        phase = "read"
                        w.write(req)
                        data = b""
                        while len(data) < 65536:
                            chunk = await r.read(65536)
                            if not chunk:
                                break
                            data += chunk
                        return data
                    data = await asyncio.wait_for(go(), a.timeout)
                    head, _, body = data.partition(b"\\r\\n\\r\\n")
                    status = head.split(b"\\r\\n", 1)[0].decode("latin-1")
                    if status.split(" ")[1:2] != ["200"]:
                        raise ValueError("status " + repr(status))
                    answer, error = body.decode("utf-8", "replace").strip(), None
                except asyncio.TimeoutError:
                    answer, error = None, "timeout after %.1f s" % a.timeout
                except Exception as e:
                    answer, error = None, "%s: %s" % (type(e).__name__, e)
                finally:
                    if w is not None:
                        w.close()
                sec = str(int(start - t0))
                bucket = per_second.setdefault(sec, {})
                if error is None:
                    counts["ok"] += 1
                    answers[answer] = answers.get(answer, 0) + 1
                    bucket[answer] = bucket.get(answer, 0) + 1
                    latencies.append(time.time() - start)
                else:
                    counts["failed"] += 1
                    bucket["(failed)"] = bucket.get("(failed)", 0) + 1
                    if len(failures) < 2000:
                        failures.append({"t": int(start * 1000), "phase": phase, "error": error})
            async def main():
                loop = asyncio.get_running_loop()
                stop = asyncio.Event()
                for s in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(s, stop.set)
                t0 = time.time()
                tasks, lag, n = [], 0.0, 0
                for i in range(total):
                    if stop.is_set():
                        break
                    delay = t0 + i / a.rate - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    else:
                        lag = max(lag, -delay)
                    tasks.append(asyncio.ensure_future(one(t0)))
                    n += 1
                await asyncio.gather(*tasks)
                elapsed = time.time() - t0
                latencies.sort()
                pct = lambda p: int(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))]) if latencies else -1
                print(json.dumps({"requests": n, "ok": counts["ok"], "failed": counts["failed"], "answers": answers,
                                  "start": int(t0 * 1000), "seconds": round(elapsed, 1), "max_lag_ms": int(lag * 1000),
                                  "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": int(1000 * latencies[-1]) if latencies else -1,
                                  "failures": failures, "per_second": per_second}), flush=True)
            asyncio.run(main())
            """;

    /** Writes {@code text} as {@code name} into the fleet's directory (once) and returns its path. */
    static synchronized Path script(Fleet fleet, String name, String text) {
        Path p = fleet.dir.resolve(name);
        try {
            if (!Files.exists(p)) {
                Files.writeString(p, text, StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return p;
    }

    /** The argv of the instance's HTTP server ({@link #SERVER_PY}) on {@code bind:port}, answering {@code name}. */
    public static List<String> server(Fleet fleet, String bind, int port, String name) {
        return List.of("python3", script(fleet, "server.py", SERVER_PY).toString(), bind, String.valueOf(port), name);
    }

    private static final java.util.regex.Pattern LISTENING = java.util.regex.Pattern.compile("(?m)^listening \\S+ at (\\d+)$");

    /**
     * Waits (20 s at most) until the server a registration wraps ({@link #server}) prints that it
     * listens, and returns when (epoch ms). {@code register -- SERVER} registers first and starts
     * the server after, so an instance is in the registry a moment before it listens.
     */
    public static long awaitListening(Fleet fleet, Fleet.Registration r) {
        return fleet.await("the server under " + r.log + " listening", Duration.ofSeconds(20), () -> {
            java.util.regex.Matcher m = LISTENING.matcher(Sh.tail(r.log, 1_000_000));
            if (m.find()) {
                return Long.parseLong(m.group(1));
            }
            if (!r.process.isAlive()) {
                throw new IllegalStateException("register exited with " + r.process.exitValue() + ": " + Sh.tail(r.log, 3000));
            }
            return null;
        });
    }

    /**
     * Starts the load client ({@link #LOAD_PY}) in {@code from}: {@code rate} requests/s to {@code url}
     * for at most {@code seconds}, each bounded by {@code timeout}.
     */
    public static Load startLoad(Fleet.Netns from, String url, int rate, int seconds, Duration timeout) {
        Path log = from.fleet.dir.resolve("load-" + System.nanoTime() + ".log");
        Process p = from.spawn(log, "python3", script(from.fleet, "load.py", LOAD_PY).toString(), "--url", url,
                "--rate", String.valueOf(rate), "--seconds", String.valueOf(seconds),
                "--timeout", String.valueOf(timeout.toMillis() / 1000.0));
        return new Load(url, p, log, Duration.ofSeconds(seconds).plus(timeout).plusSeconds(30));
    }

    /** {@link #startLoad} and wait for its result. */
    public static Result load(Fleet.Netns from, String url, int rate, int seconds, Duration timeout) {
        return startLoad(from, url, rate, seconds, timeout).await();
    }

    /** A running load client. */
    public static final class Load {
        final String url;
        final Process process;
        final Path log;
        final Duration bound;

        Load(String url, Process process, Path log, Duration bound) {
            this.url = url;
            this.process = process;
            this.log = log;
            this.bound = bound;
        }

        public boolean running() {
            return process.isAlive();
        }

        /** Stops sending (SIGTERM: requests in flight are still counted) and waits for the result. */
        public Result stop() {
            if (process.isAlive()) {
                process.destroy();
            }
            return await();
        }

        /** Waits (bounded by its duration + timeout + 30 s) for the client's JSON line. */
        public Result await() {
            try {
                if (!process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS)) {
                    Sh.kill(process);
                    throw new AssertionError("the load client did not finish within " + bound.toMillis() + " ms: " + Sh.tail(log, 2000));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
            String out = Sh.tail(log, 10_000_000);
            String[] lines = out.strip().split("\n");
            try {
                JsonNode n = JSON.readTree(lines[lines.length - 1]);
                if (process.exitValue() != 0 || !n.has("requests")) {
                    throw new AssertionError("the load client exited with " + process.exitValue() + ": " + Sh.tail(log, 3000));
                }
                return new Result(url, n);
            } catch (IOException e) {
                throw new AssertionError("the load client's output is not JSON (exit " + process.exitValue() + "): " + Sh.tail(log, 3000), e);
            }
        }
    }

    /** What a load client counted. */
    public record Result(String url, JsonNode json) {
        public int requests() {
            return json.path("requests").asInt();
        }

        public int ok() {
            return json.path("ok").asInt();
        }

        public int failed() {
            return json.path("failed").asInt();
        }

        /** Successful answers per body (the instance's name). */
        public Map<String, Integer> answers() {
            Map<String, Integer> m = new TreeMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = json.path("answers").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                m.put(e.getKey(), e.getValue().asInt());
            }
            return m;
        }

        public int count(String answer) {
            return answers().getOrDefault(answer, 0);
        }

        /** Epoch ms of the first request. */
        public long start() {
            return json.path("start").asLong();
        }

        /** The failures as the client recorded them: epoch ms, phase (resolve, connect, read), error. */
        public List<Failure> failures() {
            List<Failure> l = new ArrayList<>();
            for (JsonNode f : json.path("failures")) {
                l.add(new Failure(f.path("t").asLong(), f.path("phase").asText(), f.path("error").asText()));
            }
            return l;
        }

        /** Answers per second since the start ({@code (failed)} for failures), one line per second. */
        public String timeline() {
            StringBuilder b = new StringBuilder();
            Map<Integer, JsonNode> bySecond = new TreeMap<>();
            json.path("per_second").fields().forEachRemaining(e -> bySecond.put(Integer.parseInt(e.getKey()), e.getValue()));
            bySecond.forEach((s, v) -> b.append(String.format("  %3d s: %s%n", s, v)));
            return b.toString();
        }

        @Override
        public String toString() {
            return String.format("%d requests to %s in %s s (max lag %d ms): %d ok %s, %d failed; latency p50 %d ms, p99 %d ms, max %d ms",
                    requests(), url, json.path("seconds").asText(), json.path("max_lag_ms").asInt(), ok(), answers(), failed(),
                    json.path("p50_ms").asInt(), json.path("p99_ms").asInt(), json.path("max_ms").asInt());
        }
    }

    /** One failed request: when it started (epoch ms), in which phase it failed, and how. */
    public record Failure(long t, String phase, String error) {
    }
}
