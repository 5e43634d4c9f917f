#!/usr/bin/env bash
# Health checks at scale, side by side: one portolan agent running CHECKS http checks at a 1 s
# interval (every instance at an nginx on loopback answering GET /health) against HAProxy running
# the same number of servers with `check inter 1s` and `option httpchk GET /health` against the
# same nginx. Prints checks/s, each checker's CPU (share of one core, and µs per check, its idle
# CPU subtracted) and, for portolan, the checks' latency (p50, p99, max), with ratios to HAProxy.
# Root for apt-get. Usage: bench/health/run.sh [CHECKS] [SECONDS]   (default 1000 30)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000}
SECS=${2:-30}
PKGS=(haproxy nginx python3 curl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
mvn -q -B -ntp -DskipTests install >/dev/null

WORK=$(mktemp -d /tmp/portolan-health-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$WORK"; }
trap cleanup EXIT
BACKEND=18180 ADMIN=18190
: > "$WORK/health"
chmod 755 "$WORK"; chmod 644 "$WORK/health"   # nginx's workers run as www-data
cat > "$WORK/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx.err;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:$BACKEND backlog=4096; root $WORK; } }
CONF
nginx -c "$WORK/nginx.conf" & PIDS+=($!)

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # clock ticks, user + system, the whole process
TCK=$(getconf CLK_TCK)
# measure PID SECONDS -> CPU seconds used over that time
measure() { local a b; a=$(cpu "$1"); sleep "$2"; b=$(cpu "$1"); awk -v a="$a" -v b="$b" -v t="$TCK" 'BEGIN { printf "%.3f", (b - a) / t }'; }

# --- portolan
deploy/bin/portolan agent --dns-listen none --dataplane none --state-dir "$WORK/state" --admin-listen "127.0.0.1:$ADMIN" \
  --node bench --advertise-address 127.0.0.1 --log-level warn > "$WORK/agent.log" 2>&1 & PIDS+=($!)
AGENT=$!
for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null && break; sleep 0.2; done
AGENT_JVM=$(pgrep -P "$AGENT" java || echo "$AGENT")
sleep 5
idle=$(measure "$AGENT_JVM" 10)
python3 - "$N" "$ADMIN" "$BACKEND" <<'PY'
import http.client, json, sys
n, admin, backend = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
for i in range(n):
    body = {"service": "hc%d" % (i % 100), "id": "i%d" % i, "address": "127.0.0.1", "ports": [{"name": "http", "port": backend}],
            "ttl": 3600, "check": {"kind": "http", "path": "/health", "interval": "1s", "timeout": "500ms"}}
    c.request("POST", "/v1/instances", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 201:
        sys.exit("register %d: %d" % (i, r.status))
PY
sleep 10
before=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^portolan_health_checks_total/ {s += $2} END {print s + 0}')
busy=$(measure "$AGENT_JVM" "$SECS")
metrics=$(curl -s "http://127.0.0.1:$ADMIN/metrics")
after=$(echo "$metrics" | awk '/^portolan_health_checks_total/ {s += $2} END {print s + 0}')
failed=$(echo "$metrics" | awk '/^portolan_health_checks_total\{result="failed"/ {print $2}')
skipped=$(echo "$metrics" | awk '/^portolan_health_checks_total\{result="skipped"/ {print $2}')
p50=$(echo "$metrics" | awk '/^portolan_health_check_duration_seconds\{quantile="0.5"/ {printf "%.2f", $2 * 1000}')
p99=$(echo "$metrics" | awk '/^portolan_health_check_duration_seconds\{quantile="0.99"/ {printf "%.2f", $2 * 1000}')
max=$(echo "$metrics" | awk '/^portolan_health_check_duration_seconds_max/ {printf "%.2f", $2 * 1000}')
kill "$AGENT" 2>/dev/null || true

# --- HAProxy
{
  echo "global"; echo "  nbthread 1"; echo "  maxconn 4000"
  echo "defaults"; echo "  mode http"; echo "  timeout connect 500ms"; echo "  timeout client 5s"; echo "  timeout server 5s"
  echo "frontend idle"; echo "  bind 127.0.0.1:18181"; echo "  default_backend checked"   # haproxy starts only with a listener
  echo "backend checked"; echo "  option httpchk GET /health"; echo "  default-server inter 1s fall 3 rise 1"
  for i in $(seq 1 "$N"); do echo "  server s$i 127.0.0.1:$BACKEND check"; done
} > "$WORK/haproxy.cfg"
haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 & PIDS+=($!)
HA=$!
sleep 12
ha_busy=$(measure "$HA" "$SECS")
kill "$HA" 2>/dev/null || true

awk -v n="$N" -v s="$SECS" -v idle="$idle" -v busy="$busy" -v before="$before" -v after="$after" -v ha="$ha_busy" \
    -v failed="${failed:-0}" -v skipped="${skipped:-0}" -v p50="$p50" -v p99="$p99" -v max="$max" 'BEGIN {
  checks = after - before; rate = checks / s; used = busy - idle * s / 10;
  printf "%d http checks at a 1 s interval, %d s measured, nginx on loopback answering\n", n, s
  printf "portolan: %.0f checks/s (%d failed, %d skipped), CPU %.1f %% of a core (idle agent %.1f %% subtracted), %.1f us/check; latency p50 %s ms, p99 %s ms, max %s ms\n",
    rate, failed, skipped, 100 * used / s, 100 * idle / 10, 1e6 * used / checks, p50, p99, max
  printf "haproxy:  %.0f checks/s (expected), CPU %.1f %% of a core, %.1f us/check\n", n, 100 * ha / s, 1e6 * ha / (n * s)
  printf "ratio portolan / haproxy: CPU per check %.2fx\n", (used / checks) / (ha / (n * s))
}'
