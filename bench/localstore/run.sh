#!/usr/bin/env bash
# The embedded store under registrations through the agent's HTTP API: N registrations (default
# 100,000: SERVICES services x N/SERVICES instances, VIP mode, TTL 600 s) from C kept-alive client
# connections, against this checkout's agent (append-only journal) and, side by side, a build of
# main before the journal (registry.json rewritten whole on every change), which gets N_BEFORE
# registrations (default 4,000: it slows down as the file grows). Both with DNS on a loopback port
# and --dataplane none. Prints the rate of each tenth of the run (flat = O(1) per change), the total
# time, the state directory's files, then kills the new agent with kill -9, restarts it on the same
# state directory and prints the time to /readyz and the instances it serves.
# Usage: bench/localstore/run.sh [N] [N_BEFORE] [C] [SERVICES]
#   BEFORE_REF=main (git ref of the "before" build, taken with git archive; BEFORE_REF=none skips it)
# Then registers all N again ("again": no new keys, so compactions run while it goes on).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100000}; N_BEFORE=${2:-4000}; C=${3:-4}; SERVICES=${4:-10000}
BEFORE_REF=${BEFORE_REF:-main}
LIMIT=${LIMIT:-300}   # seconds: each run stops registering after this long
WORK=$(mktemp -d /tmp/portolan-localstore-bench.XXXXXX)
PID=
cleanup() {
  [[ -n "$PID" ]] && kill -9 "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
mvn -q -B -o package -DskipTests -pl agent -am >/dev/null
cp agent/target/portolan.jar "$WORK/after.jar"
if [[ "$BEFORE_REF" != none ]]; then
  mkdir "$WORK/before-src" && git archive "$BEFORE_REF" | tar -x -C "$WORK/before-src"
  (cd "$WORK/before-src" && mvn -q -B -o package -DskipTests -pl agent -am >/dev/null)
  cp "$WORK/before-src/agent/target/portolan.jar" "$WORK/before.jar"
fi
ADMIN=18391; DNS=18392
start() { # $1 jar, $2 state dir
  java -XX:+UseSerialGC -jar "$1" agent --dns-listen 127.0.0.1:$DNS --dataplane none --state-dir "$2" \
    --admin-listen 127.0.0.1:$ADMIN --node bench --log-level warn >> "$WORK/agent.log" 2>&1 &
  PID=$!
}
ready() { for i in $(seq 1 600); do curl -sf http://127.0.0.1:$ADMIN/readyz >/dev/null && return 0; sleep 0.1; done; echo "agent not ready" >&2; tail -20 "$WORK/agent.log" >&2; exit 1; }
load() { # $1 label, $2 count
  python3 - "$1" "$2" "$C" "$SERVICES" "$ADMIN" "$LIMIT" <<'PY'
import http.client, json, sys, threading, time
label, n, c, services, port, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
done = [0]; lock = threading.Lock(); marks = []; errors = []
t0 = time.time(); deadline = t0 + limit
def work(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(k, n, c):
        if time.time() > deadline:
            return
        body = json.dumps({"service": "s%d" % (i % services), "id": "i%d" % i, "address": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
                           "ports": [{"port": 80}], "ttl": 600})
        conn.request("POST", "/v1/instances", body, {"Content-Type": "application/json"})
        r = conn.getresponse(); r.read()
        if r.status != 201:
            errors.append("%d: HTTP %d" % (i, r.status)); return
        with lock:
            done[0] += 1
            if done[0] % max(1, n // 10) == 0:
                marks.append((done[0], time.time()))
threads = [threading.Thread(target=work, args=(k,)) for k in range(c)]
[t.start() for t in threads]; [t.join() for t in threads]
total = time.time() - t0
if errors:
    sys.exit("%s: %s" % (label, errors[0]))
prev = (0, t0); rates = []
for m in marks:
    rates.append("%.0f" % ((m[0] - prev[0]) / (m[1] - prev[1]))); prev = m
print("%-7s %7d registrations in %6.1f s = %6.0f /s%s; per tenth (/s): %s" % (label, done[0], total, done[0] / total,
      "" if done[0] == n else " (stopped at the %d s limit)" % limit, " ".join(rates)))
PY
}
instances() { curl -sf http://127.0.0.1:$ADMIN/v1/services | python3 -c 'import json,sys; print(sum(s["instances"] for s in json.load(sys.stdin)))'; }
if [[ -f "$WORK/before.jar" ]]; then
  start "$WORK/before.jar" "$WORK/state-before"; ready
  load before "$N_BEFORE" | tee "$WORK/before.txt"
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo "before  state: $(du -sh "$WORK/state-before" | cut -f1) ($(ls "$WORK/state-before" | tr '\n' ' '))"
fi
if [[ -f "$WORK/before.jar" ]]; then # the same count as before, on a fresh state directory: the ratio
  start "$WORK/after.jar" "$WORK/state-small"; ready
  load after "$N_BEFORE" | tee "$WORK/small.txt"
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
fi
start "$WORK/after.jar" "$WORK/state"; ready
load after "$N"
echo "after   state: $(ls -l "$WORK/state" | awk 'NR > 1 {printf "%s %d B  ", $9, $5}')"
# every instance registered again (registrants after an agent restart): changes without new keys,
# so the journal outgrows the keys and compactions run in the background meanwhile
load again "$N"
echo "after   state: $(ls -l "$WORK/state" | awk 'NR > 1 {printf "%s %d B  ", $9, $5}')"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
t=$(date +%s.%N); start "$WORK/after.jar" "$WORK/state"; ready
[[ -f "$WORK/before.txt" ]] && awk '{print $8}' "$WORK/before.txt" "$WORK/small.txt" | paste -s - |
  awk '{printf "ratio after / before at %s registrations: %.0fx\n", "'"$N_BEFORE"'", $2 / $1}'
echo "after   kill -9, restart: ready in $(echo "$(date +%s.%N) - $t" | bc) s (JVM start included), serving $(instances) instances"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
