#!/usr/bin/env bash
# DNS bench: portolan's server against knot and unbound serving the same 1,000 names, side by side
# in one run, with Debian's dnsperf; portolan twice: UDP on blocking threads (the default) and on
# Netty's epoll event loops (--dns-udp-io eventloop). Prints QPS, server CPU µs per query and ratios to knot; p99
# latency at a fixed 20k QPS; forwarded-query QPS with a warm cache.
#
# Usage: bench/dns/run.sh     (DURATION=10 CLIENTS=8 ROUNDS=3 FIXED_QPS=20000 P99_SECONDS=5 to override)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/bench/out/dns
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
FIXED_QPS=${FIXED_QPS:-20000}
ROUNDS=${ROUNDS:-3}
N=1000
ZONE=portolan.internal
mkdir -p "$OUT"

need=()
for p in dnsperf knot unbound; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# --- the same names for every server -------------------------------------------------------------
addr() { echo "10.96.$(($1 / 250)).$(($1 % 250 + 1))"; }
{
  echo "\$ORIGIN $ZONE."
  echo "@ 5 IN SOA ns.dns.$ZONE. hostmaster.$ZONE. 1 3600 600 86400 5"
  echo "@ 5 IN NS ns.dns.$ZONE."
  echo "ns.dns 5 IN A 127.0.0.1"
  for ((i = 0; i < N; i++)); do echo "svc$i 5 IN A $(addr $i)"; done
} > "$OUT/$ZONE.zone"
for ((i = 0; i < N; i++)); do echo "svc$i.$ZONE A"; done > "$OUT/queries.txt"
for ((i = 0; i < N; i++)); do echo "n$i.fwd.test A"; done > "$OUT/forward-queries.txt"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

wait_ready() { # port name
  for _ in $(seq 1 100); do
    dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short "svc1.$ZONE" 2>/dev/null | grep -q 10.96 && return 0
    sleep 0.1
  done
  echo "$2 did not answer on port $1" >&2; return 1
}

declare -A QPS CPU P99 QPSS CPUS

run_once() { # name pid port -> appends to QPSS/CPUS
  local name=$1 pid=$2 port=$3 before after out q
  before=$(cpu_ticks "$pid")
  out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$OUT/queries.txt" -c "$CLIENTS" -l "$DURATION" 2>&1)
  after=$(cpu_ticks "$pid")
  echo "$out" >> "$OUT/$name.dnsperf.txt"
  q=$(echo "$out" | awk '/Queries completed:/ {print $3}')
  QPSS[$name]="${QPSS[$name]:-} $(echo "$out" | awk '/Queries per second:/ {printf "%.0f", $4}')"
  CPUS[$name]="${CPUS[$name]:-} $(awk -v t=$((after - before)) -v hz="$TICK" -v q="$q" 'BEGIN {printf "%.2f", t * 1e6 / hz / q}')"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# --- knot ----------------------------------------------------------------------------------------
KNOT_PORT=$(free_port)
rm -rf "$OUT/knot" && mkdir -p "$OUT/knot"
cat > "$OUT/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$KNOT_PORT
    rundir: $OUT/knot
    user: root:root
log:
  - target: stderr
    any: error
database:
    storage: $OUT/knot
zone:
  - domain: $ZONE
    file: $OUT/$ZONE.zone
    journal-content: none
    zonefile-sync: -1
CONF
knotd -c "$OUT/knot.conf" 2> "$OUT/knot.log" &
KNOT_PID=$!; PIDS+=("$KNOT_PID")
wait_ready "$KNOT_PORT" knot

# --- unbound (also the upstream for the forwarding run) -------------------------------------------
UNBOUND_PORT=$(free_port)
{
  cat <<CONF
server:
    interface: 127.0.0.1@$UNBOUND_PORT
    port: $UNBOUND_PORT
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$OUT"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: $(nproc)
    so-reuseport: yes
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    local-zone: "$ZONE." static
    local-zone: "fwd.test." static
CONF
  for ((i = 0; i < N; i++)); do
    echo "    local-data: \"svc$i.$ZONE. 5 IN A $(addr $i)\""
    echo "    local-data: \"n$i.fwd.test. 300 IN A $(addr $i)\""
  done
  echo "remote-control:"
  echo "    control-enable: no"
} > "$OUT/unbound.conf"
unbound -d -c "$OUT/unbound.conf" 2> "$OUT/unbound.log" &
UNBOUND_PID=$!; PIDS+=("$UNBOUND_PID")
wait_ready "$UNBOUND_PORT" unbound

# --- portolan ------------------------------------------------------------------------------------
mvn -q -B -ntp -pl proto install -DskipTests
mvn -q -B -ntp -pl dns test-compile
mvn -q -B -ntp -pl dns dependency:build-classpath -Dmdep.outputFile="$OUT/cp.txt" > /dev/null
CP="$ROOT/dns/target/test-classes:$ROOT/dns/target/classes:$(cat "$OUT/cp.txt")"
PORTOLAN_PORT=$(free_port)
# the collector deploy/bin/portolan runs the agent with (Parallel measured the same here)
JAVA_OPTS=${JAVA_OPTS:--Xms256m -Xmx256m -XX:+UseG1GC}
# shellcheck disable=SC2086
java $JAVA_OPTS -cp "$CP" io.portolan.dns.bench.BenchServer --listen "127.0.0.1:$PORTOLAN_PORT" --services $N \
  --upstream "127.0.0.1:$UNBOUND_PORT" --forever < /dev/null > "$OUT/portolan.log" 2>&1 &
PORTOLAN_PID=$!; PIDS+=("$PORTOLAN_PID")
wait_ready "$PORTOLAN_PORT" portolan
# the same server with UDP on Netty's epoll event loops (--dns-udp-io eventloop), for comparison
EL_PORT=$(free_port)
# shellcheck disable=SC2086
java $JAVA_OPTS -cp "$CP" io.portolan.dns.bench.BenchServer --listen "127.0.0.1:$EL_PORT" --services $N --udp-io eventloop \
  --upstream "127.0.0.1:$UNBOUND_PORT" --forever < /dev/null > "$OUT/portolan-el.log" 2>&1 &
EL_PID=$!; PIDS+=("$EL_PID")
wait_ready "$EL_PORT" portolan-el

# All three run side by side; an idle server uses no CPU. Each is warmed up (JIT, caches), then
# measured in interleaved rounds so that noise from anything else on the machine falls on all alike;
# the median round is reported.
echo "knot $(knotd --version | head -1), unbound $(unbound -V | head -1), dnsperf -c $CLIENTS -l $DURATION, $(nproc) cores, $ROUNDS rounds"
port_of() { case $1 in knot) echo "$KNOT_PORT" ;; unbound) echo "$UNBOUND_PORT" ;; portolan) echo "$PORTOLAN_PORT" ;; portolan-el) echo "$EL_PORT" ;; esac; }
pid_of() { case $1 in knot) echo "$KNOT_PID" ;; unbound) echo "$UNBOUND_PID" ;; portolan) echo "$PORTOLAN_PID" ;; portolan-el) echo "$EL_PID" ;; esac; }
rm -f "$OUT"/*.dnsperf.txt
for s in knot unbound portolan portolan-el; do
  dnsperf -s 127.0.0.1 -p "$(port_of $s)" -d "$OUT/queries.txt" -c "$CLIENTS" -l 3 > /dev/null 2>&1 || true
done
for ((r = 0; r < ROUNDS; r++)); do
  for s in knot unbound portolan portolan-el; do run_once "$s" "$(pid_of $s)" "$(port_of $s)"; done
done
for s in knot unbound portolan portolan-el; do
  QPS[$s]=$(echo "${QPSS[$s]}" | median)
  CPU[$s]=$(echo "${CPUS[$s]}" | median)
  printf '%-11s %9s QPS  %6s µs CPU/query   (rounds QPS:%s; µs:%s)\n' "$s" "${QPS[$s]}" "${CPU[$s]}" "${QPSS[$s]}" "${CPUS[$s]}"
done

# forwarded names (outside the zone) through portolan to unbound, cache warm
dnsperf -s 127.0.0.1 -p "$PORTOLAN_PORT" -d "$OUT/forward-queries.txt" -c "$CLIENTS" -l 3 > /dev/null 2>&1 || true
before=$(cpu_ticks "$PORTOLAN_PID")
fwd=$(dnsperf -s 127.0.0.1 -p "$PORTOLAN_PORT" -d "$OUT/forward-queries.txt" -c "$CLIENTS" -l "$DURATION" 2>&1)
after=$(cpu_ticks "$PORTOLAN_PID")
echo "$fwd" > "$OUT/portolan-forward.dnsperf.txt"
fq=$(echo "$fwd" | awk '/Queries completed:/ {print $3}')
FWD_QPS=$(echo "$fwd" | awk '/Queries per second:/ {printf "%.0f", $4}')
FWD_CPU=$(awk -v t=$((after - before)) -v hz="$TICK" -v q="$fq" 'BEGIN {printf "%.2f", t * 1e6 / hz / q}')

# p99 at a fixed rate, in interleaved rounds (the median of each server's rounds), so that noise from
# anything else on the machine falls on every server alike. Idle servers use no CPU.
p99_once() { # port -> µs
  dnsperf -s 127.0.0.1 -p "$1" -d "$OUT/queries.txt" -c "$CLIENTS" -l "$P99_SECONDS" -Q "$FIXED_QPS" -v 2>/dev/null \
    | awk '$1 == ">" || $1 == "<" {print $NF}' | grep -E '^[0-9.]+$' | sort -g \
    | awk '{a[NR] = $1} END {if (NR) printf "%.0f", a[int(NR * 0.99)] * 1e6; else print "NA"}'
}
P99_SECONDS=${P99_SECONDS:-5}
declare -A P99S
for ((r = 0; r < ROUNDS; r++)); do
  for s in knot unbound portolan portolan-el; do
    P99S[$s]="${P99S[$s]:-} $(p99_once "$(port_of $s)")"
  done
done
for s in knot unbound portolan portolan-el; do
  P99[$s]=$(echo "${P99S[$s]}" | median)
  printf '%-11s p99 %s µs at %s QPS (rounds:%s)\n' "$s" "${P99[$s]}" "$FIXED_QPS" "${P99S[$s]}"
done

echo
echo "== ratios to knot (same machine, same run) =="
for s in knot unbound portolan portolan-el; do
  awk -v n="$s" -v q="${QPS[$s]}" -v kq="${QPS[knot]}" -v c="${CPU[$s]}" -v kc="${CPU[knot]}" -v p="${P99[$s]}" -v kp="${P99[knot]}" \
    'BEGIN {printf "%-11s QPS %.2fx  CPU/query %.2fx  p99 %s\n", n, q / kq, c / kc, (p == "NA" || kp == "NA" || kp == 0) ? "NA" : sprintf("%.2fx", p / kp)}'
done
echo "portolan forwarded (warm cache, upstream unbound): $FWD_QPS QPS, $FWD_CPU µs CPU/query"
