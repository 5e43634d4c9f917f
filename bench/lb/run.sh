#!/usr/bin/env bash
# Side-by-side TCP proxy benchmark on loopback: wrk -t1 -c64 -d10s fetching a 1 KiB file from an
# nginx backend directly, through HAProxy (mode tcp), nginx stream, and portolan's userspace data
# plane (portolan: the native relay, the default; portolan-splice: Netty's relay with splice; add
# BENCH_LB_FLAGS=--lb-tcp-io=netty for Netty's relay with buffers), with keep-alive and with
# "Connection: close". Prints req/s, p99 and the proxy's CPU time per request (from /proc/PID/stat,
# all of the proxy's processes), with ratios to HAProxy. Usage: bench/lb/run.sh [DURATION]   (default 10s). Needs root for apt-get.
#
# On a shared machine, compare CPU us/request over several rounds rather than req/s of one run:
#   BENCH_ROUNDS=N      repeat every measurement N times, interleaved (default 1); prints the
#                       median and the min-max of each figure, ratios are medians of each round's
#                       ratio to that round's HAProxy run
#   BENCH_ONLY="..."    names to run (default: direct haproxy nginx-stream portolan portolan-splice)
#   BENCH_MODES="..."   keepalive and/or close (default both)
#   BENCH_BASE=REV      also run "portolan-base": the userspace package as of git revision REV,
#                       same JVM and flags (an A/B in one run)
#   BENCH_JAVA_OPTS     the portolan JVM's options (default: the launcher's for `agent`, see JOPTS)
#   BENCH_BASE_JAVA_OPTS  portolan-base's JVM options (default BENCH_JAVA_OPTS): with BENCH_BASE=HEAD
#                       and a clean tree, an A/B of JVM flags
#   BENCH_BASE_LB_FLAGS portolan-base's extra flags (default BENCH_LB_FLAGS), e.g. --lb-threads=2
#   BENCH_LB_FLAGS      extra --lb-* flags for every portolan proxy
#   BENCH_JIT_WARMUP    seconds of load per mode on each portolan JVM before the first round
#                       (default 20): with a new connection per request the JIT compiles for
#                       ~15 s, and that one-time cost would otherwise be most of the CPU measured
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10s}
ROUNDS=${BENCH_ROUNDS:-1}
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

BACKEND=18080 HAPROXY=18081 NGINXS=18082 VIP=127.0.0.91 VIPS=127.0.0.92 VIPB=127.0.0.93 VPORT=18083
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

NAMES=(${BENCH_ONLY:-direct haproxy nginx-stream portolan portolan-splice})
MODES=(${BENCH_MODES:-keepalive close})
[[ -n "${BENCH_BASE:-}" ]] && NAMES+=(portolan-base)
has() { local x; for x in "${NAMES[@]}"; do [[ $x == "$1" ]] && return 0; done; return 1; }

nginx -c "$WORK/backend.conf" -p "$WORK" & PIDS+=($!)
NGINX_PID="" HAPROXY_PID="" PORTOLAN_PID="" SPLICE_PID="" BASE_PID=""
if has nginx-stream; then nginx -c "$WORK/stream.conf" -p "$WORK" & PIDS+=($!); NGINX_PID=$!; fi
if has haproxy; then haproxy -f "$WORK/haproxy.cfg" -db & PIDS+=($!); HAPROXY_PID=$!; fi

# The classes are copied so that a rebuild of lb/target during the run does not change what runs.
mvn -q -B -ntp -pl proto install -DskipTests >/dev/null
mvn -q -B -ntp -pl lb test-compile dependency:build-classpath -Dmdep.outputFile="$WORK/cp.txt" -Dmdep.includeScope=test >/dev/null
cp -r lb/target/classes "$WORK/classes"
cp -r lb/target/test-classes "$WORK/test-classes"
DEPS=$(cat "$WORK/cp.txt")
CP="$WORK/test-classes:$WORK/classes:$DEPS"
# The launcher's options for `agent` (deploy/bin/portolan), so the figures are what users get.
JOPTS=(${BENCH_JAVA_OPTS:--XX:+UseG1GC -XX:+ExitOnOutOfMemoryError} -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
LBF=(--lb-threads=1 ${BENCH_LB_FLAGS:-})
if has portolan; then
  java "${JOPTS[@]}" -cp "$CP" io.portolan.lb.bench.BenchProxy "$VIP" "$VPORT" "$BACKEND" "${LBF[@]}" > "$WORK/p1.out" 2>&1 & PIDS+=($!); PORTOLAN_PID=$!
fi
if has portolan-splice; then
  java "${JOPTS[@]}" -cp "$CP" io.portolan.lb.bench.BenchProxy "$VIPS" "$VPORT" "$BACKEND" "${LBF[@]}" --lb-splice=true > "$WORK/p2.out" 2>&1 & PIDS+=($!); SPLICE_PID=$!
fi
if has portolan-base; then
  mkdir -p "$WORK/base/src" "$WORK/base/classes"
  git archive "$BENCH_BASE" lb/src/main/java | tar -x -C "$WORK/base/src"
  javac -nowarn -d "$WORK/base/classes" -cp "$WORK/classes:$DEPS" $(find "$WORK/base/src" -name '*.java') 2>&1 | grep -v '^Note:' || true
  BJOPTS=(${BENCH_BASE_JAVA_OPTS:-${JOPTS[*]}} -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
  java "${BJOPTS[@]}" -cp "$WORK/test-classes:$WORK/base/classes:$WORK/classes:$DEPS" io.portolan.lb.bench.BenchProxy \
    "$VIPB" "$VPORT" "$BACKEND" --lb-threads=1 ${BENCH_BASE_LB_FLAGS:-${BENCH_LB_FLAGS:-}} > "$WORK/p3.out" 2>&1 & PIDS+=($!); BASE_PID=$!
fi
for i in $(seq 1 150); do
  ok=1
  for f in p1:portolan p2:portolan-splice p3:portolan-base; do
    has "${f#*:}" && ! grep -q READY "$WORK/${f%%:*}.out" 2>/dev/null && ok=0
  done
  ((ok)) && break; sleep 0.2
done
sleep 1

cpu_ticks() { # utime+stime of a process and its threads, in clock ticks
  [[ -z "$1" ]] && { echo 0; return; }
  awk '{print $14+$15}' "/proc/$1/stat"
}
HZ=$(getconf CLK_TCK)

declare -A RPS P99 CPU
jit_warmup() { # name url mode
  local hdr=(); [[ $3 == close ]] && hdr=(-H "Connection: close")
  wrk -t1 -c64 -d"${BENCH_JIT_WARMUP:-20}s" "${hdr[@]}" "$2" >/dev/null 2>&1 || true
}
run() { # name url pid mode round
  local name=$1 url=$2 pid=$3 mode=$4 k=$1.$4.$5 hdr=()
  [[ $mode == close ]] && hdr=(-H "Connection: close")
  wrk -t1 -c64 -d2s "${hdr[@]}" "$url" >/dev/null 2>&1 || true   # warm-up (JIT)
  local before; before=$(cpu_ticks "$pid")
  local out; out=$(wrk -t1 -c64 -d"$DUR" --latency "${hdr[@]}" "$url")
  local after; after=$(cpu_ticks "$pid")
  local reqs; reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  RPS[$k]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  P99[$k]=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) v=v/1000; else if (v ~ /ms$/) v=v+0; else if (v ~ /s$/) v=v*1000; printf "%.2f", v}' <<<"$out")
  if [[ -n "$pid" ]]; then
    CPU[$k]=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  else
    CPU[$k]="-"
  fi
}

declare -A URL=([direct]="http://127.0.0.1:$BACKEND/1k.txt" [haproxy]="http://127.0.0.1:$HAPROXY/1k.txt"
  [nginx-stream]="http://127.0.0.1:$NGINXS/1k.txt" [portolan]="http://$VIP:$VPORT/1k.txt"
  [portolan-splice]="http://$VIPS:$VPORT/1k.txt" [portolan-base]="http://$VIPB:$VPORT/1k.txt")
# the nginx stream proxy's worker is the child of the master we started
NGINX_WORKER=""
[[ -n "$NGINX_PID" ]] && NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1 || true)
declare -A PID=([direct]="" [haproxy]="$HAPROXY_PID" [nginx-stream]="$NGINX_WORKER" [portolan]="$PORTOLAN_PID"
  [portolan-splice]="$SPLICE_PID" [portolan-base]="$BASE_PID")
if [[ ${BENCH_JIT_WARMUP:-20} != 0 ]]; then
  for mode in "${MODES[@]}"; do
    for n in "${NAMES[@]}"; do [[ $n == portolan* ]] && jit_warmup "$n" "${URL[$n]}" "$mode"; done
  done
fi
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in "${MODES[@]}"; do
    for n in "${NAMES[@]}"; do run "$n" "${URL[$n]}" "${PID[$n]}" "$mode" "$r"; done
  done
  ((ROUNDS > 1)) && echo "round $r/$ROUNDS done" >&2
done

# stat V1 V2 ...: "median" for one value, "median [min-max]" for several
stat() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
  if (NR == 1) printf "%s", v[1]; else printf "%g [%g-%g]", m, v[1], v[NR]}'; }
col() { local t=$1 n=$2 mode=$3 r vals=(); local -n A=$t
  for ((r = 1; r <= ROUNDS; r++)); do vals+=("${A[$n.$mode.$r]}"); done; stat "${vals[@]}"; }
ratio() { local t=$1 n=$2 mode=$3 ref=${4:-haproxy} r vals=(); local -n A=$t
  for ((r = 1; r <= ROUNDS; r++)); do
    vals+=("$(awk -v a="${A[$n.$mode.$r]}" -v b="${A[$ref.$mode.$r]:-}" 'BEGIN {if (a == "-" || b == "" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}')")
  done
  [[ ${vals[0]} == "-" ]] && { echo "-"; return; }
  printf '%s\n' "${vals[@]}" | sort -g | awk '{v[NR]=$1} END {printf "%.2fx", NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

printf "\nwrk -t1 -c64 -d%s, 1 KiB file from nginx on loopback; CPU = proxy user+system time per request" "$DUR"
((ROUNDS > 1)) && printf "; median [min-max] of %d rounds" "$ROUNDS"
printf "\nportolan JVM: %s; flags: %s; JIT warm-up %ss per mode\n" "${JOPTS[*]}" "${LBF[*]}" "${BENCH_JIT_WARMUP:-20}"
W=10; ((ROUNDS > 1)) && W=22
for mode in "${MODES[@]}"; do
  printf "\n%-16s %${W}s %${W}s %${W}s %12s %12s\n" "[$mode]" "req/s" "p99 ms" "CPU us/req" "req/s vs HA" "CPU vs HA"
  for n in "${NAMES[@]}"; do
    printf "%-16s %${W}s %${W}s %${W}s %12s %12s\n" "$n" "$(col RPS "$n" "$mode")" "$(col P99 "$n" "$mode")" \
      "$(col CPU "$n" "$mode")" "$(ratio RPS "$n" "$mode")" "$(ratio CPU "$n" "$mode")"
  done
  has portolan-base && printf "portolan vs portolan-base, median of the rounds' ratios: req/s %s, CPU us/req %s\n" \
    "$(ratio RPS portolan "$mode" portolan-base)" "$(ratio CPU portolan "$mode" portolan-base)"
done
