#!/usr/bin/env bash
# Side-by-side TCP proxy benchmark on loopback: wrk -t1 -c64 -d10s fetching a 1 KiB file from an
# nginx backend directly, through HAProxy (mode tcp), nginx stream, and portolan's userspace data
# plane (buffers and splice), with keep-alive and with "Connection: close". Prints req/s, p99 and
# the proxy's CPU time per request (from /proc/PID/stat, all of the proxy's processes), with
# ratios to HAProxy. Usage: bench/lb/run.sh [DURATION]   (default 10s). Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10s}
PKGS=(wrk haproxy nginx libnginx-mod-stream)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

WORK=$(mktemp -d /tmp/portolan-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$WORK"; }
trap cleanup EXIT

BACKEND=18080 HAPROXY=18081 NGINXS=18082 VIP=127.0.0.91 VIPS=127.0.0.92 VPORT=18083
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$WORK/1k.txt"

# nginx: the backend on loopback, and a separate nginx stream proxy
cat > "$WORK/backend.conf" <<CONF
daemon off; worker_processes 1; pid $WORK/backend.pid; error_log $WORK/backend.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$BACKEND backlog=4096; root $WORK; } }
CONF
cat > "$WORK/stream.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; worker_processes 1; pid $WORK/stream.pid; error_log $WORK/stream.err;
events { worker_connections 8192; }
stream { server { listen 127.0.0.1:$NGINXS backlog=4096; proxy_pass 127.0.0.1:$BACKEND; } }
CONF
cat > "$WORK/haproxy.cfg" <<CONF
global
  maxconn 8000
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind 127.0.0.1:$HAPROXY
  default_backend b
backend b
  server s1 127.0.0.1:$BACKEND
CONF

nginx -c "$WORK/backend.conf" -p "$WORK" & PIDS+=($!)
nginx -c "$WORK/stream.conf" -p "$WORK" & PIDS+=($!); NGINX_PID=$!
haproxy -f "$WORK/haproxy.cfg" -db & PIDS+=($!); HAPROXY_PID=$!

mvn -q -o -pl lb test-compile dependency:build-classpath -Dmdep.outputFile="$WORK/cp.txt" -Dmdep.includeScope=test >/dev/null
CP="lb/target/test-classes:lb/target/classes:$(cat "$WORK/cp.txt")"
JOPTS=(-Xms256m -Xmx256m -XX:+UseParallelGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
java "${JOPTS[@]}" -cp "$CP" io.portolan.lb.bench.BenchProxy "$VIP" "$VPORT" "$BACKEND" --lb-threads=1 > "$WORK/p1.out" 2>&1 & PIDS+=($!); PORTOLAN_PID=$!
java "${JOPTS[@]}" -cp "$CP" io.portolan.lb.bench.BenchProxy "$VIPS" "$VPORT" "$BACKEND" --lb-threads=1 --lb-splice=true > "$WORK/p2.out" 2>&1 & PIDS+=($!); SPLICE_PID=$!
for i in $(seq 1 100); do
  grep -q READY "$WORK/p1.out" 2>/dev/null && grep -q READY "$WORK/p2.out" 2>/dev/null && break; sleep 0.2
done
sleep 1

cpu_ticks() { # utime+stime of a process and its threads, in clock ticks
  [[ -z "$1" ]] && { echo 0; return; }
  awk '{print $14+$15}' "/proc/$1/stat"
}
HZ=$(getconf CLK_TCK)

declare -A RPS P99 CPU
run() { # name url pid mode
  local name=$1 url=$2 pid=$3 mode=$4 hdr=()
  [[ $mode == close ]] && hdr=(-H "Connection: close")
  wrk -t1 -c64 -d2s "${hdr[@]}" "$url" >/dev/null 2>&1 || true   # warm-up (JIT)
  local before; before=$(cpu_ticks "$pid")
  local out; out=$(wrk -t1 -c64 -d"$DUR" --latency "${hdr[@]}" "$url")
  local after; after=$(cpu_ticks "$pid")
  local reqs; reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  RPS[$name.$mode]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  P99[$name.$mode]=$(awk '$1=="99%" {print $2}' <<<"$out")
  if [[ -n "$pid" ]]; then
    CPU[$name.$mode]=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  else
    CPU[$name.$mode]="-"
  fi
}

NAMES=(direct haproxy nginx-stream portolan portolan-splice)
declare -A URL=([direct]="http://127.0.0.1:$BACKEND/1k.txt" [haproxy]="http://127.0.0.1:$HAPROXY/1k.txt"
  [nginx-stream]="http://127.0.0.1:$NGINXS/1k.txt" [portolan]="http://$VIP:$VPORT/1k.txt" [portolan-splice]="http://$VIPS:$VPORT/1k.txt")
# the nginx stream proxy's worker is the child of the master we started
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1 || true)
declare -A PID=([direct]="" [haproxy]="$HAPROXY_PID" [nginx-stream]="$NGINX_WORKER" [portolan]="$PORTOLAN_PID" [portolan-splice]="$SPLICE_PID")
for mode in keepalive close; do
  for n in "${NAMES[@]}"; do run "$n" "${URL[$n]}" "${PID[$n]}" "$mode"; done
done

printf "\nwrk -t1 -c64 -d%s, 1 KiB file from nginx on loopback; CPU = proxy user+system time per request\n" "$DUR"
for mode in keepalive close; do
  printf "\n%-16s %10s %9s %10s %12s %12s\n" "[$mode]" "req/s" "p99" "CPU us/req" "req/s vs HA" "CPU vs HA"
  for n in "${NAMES[@]}"; do
    r=${RPS[$n.$mode]} c=${CPU[$n.$mode]} hr=${RPS[haproxy.$mode]} hc=${CPU[haproxy.$mode]}
    rr=$(awk -v a="$r" -v b="$hr" 'BEGIN {printf "%.2fx", a / b}')
    cr="-"; [[ $c != "-" ]] && cr=$(awk -v a="$c" -v b="$hc" 'BEGIN {printf "%.2fx", a / b}')
    printf "%-16s %10s %9s %10s %12s %12s\n" "$n" "$r" "${P99[$n.$mode]}" "$c" "$rr" "$cr"
  done
done
