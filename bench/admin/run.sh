#!/usr/bin/env bash
# The admin HTTP API on one kept-alive connection, as heartbeats, scrapes, the status page and the
# Java client use it: GET /healthz and POST /v1/instances (registrations), N of each, against the
# agent as it ships (TCP_NODELAY on accepted sockets) and against the same jar with the JDK's
# default (-Dsun.net.httpserver.nodelay=false: Nagle's algorithm meets the client's delayed ACK),
# side by side; prints requests/s and the ratio. Usage: bench/admin/run.sh [N]   (default 500)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-500}
mvn -q -B -ntp -DskipTests install >/dev/null
WORK=$(mktemp -d /tmp/portolan-admin-bench.XXXXXX)
PID=
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; sleep 0.3; rm -rf "$WORK"; }
trap cleanup EXIT
run() { # $1 label, $2 java opts
  rm -rf "$WORK/state"
  PORTOLAN_JAVA_OPTS="$2" deploy/bin/portolan agent --dns-listen none --dataplane none --state-dir "$WORK/state" \
    --admin-listen 127.0.0.1:18291 --log-level warn > "$WORK/agent.log" 2>&1 &
  PID=$!
  for i in $(seq 1 300); do curl -sf http://127.0.0.1:18291/readyz >/dev/null && break; sleep 0.2; done
  python3 - "$1" "$N" <<'PY'
import http.client, json, sys, time
label, n = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", 18291, timeout=10)
def rate(method, path, body=None):
    t = time.time()
    for i in range(n):
        b = None if body is None else json.dumps(body(i))
        c.request(method, path, b, {"Content-Type": "application/json"} if b else {})
        r = c.getresponse(); r.read()
        if r.status >= 300:
            sys.exit("%s %s: %d" % (method, path, r.status))
    return n / (time.time() - t)
rate("GET", "/healthz")  # warm-up
h = rate("GET", "/healthz")
reg = rate("POST", "/v1/instances", lambda i: {"service": "bench", "id": "%s-%d" % (label, i), "address": "10.0.0.1",
                                            "ports": [{"port": 80}], "ttl": 60})
print("%-8s GET /healthz %8.0f req/s   registrations %8.0f /s" % (label, h, reg))
PY
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
}
{ run nodelay ""; run nagle "-Dsun.net.httpserver.nodelay=false"; } | tee "$WORK/out.txt"
awk '/^nodelay/ {h1=$4; r1=$7} /^nagle/ {h2=$4; r2=$7} END {printf "ratio nodelay / nagle: GET %.1fx, registrations %.1fx\n", h1 / h2, r1 / r2}' "$WORK/out.txt"
