#!/usr/bin/env bash
# nftables data plane at scale: SERVICES x INSTANCES (default 10,000 x 10) in a fresh network namespace.
# Prints: load from empty, one instance change, restart adoption, plane heap; and ratios to the
# kube-proxy anchors (~9 min to create 10,000 services x 2 endpoints; ~141 ms per added service at 10,000).
# Needs root, nft, ip. Usage: bench/nftables/run.sh [SERVICES] [INSTANCES]
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVICES=${1:-10000}
INSTANCES=${2:-10}
NS=ptl-nftbench-$$
WORK=$(mktemp -d)
trap 'ip netns del "$NS" 2>/dev/null || true; rm -rf "$WORK"' EXIT
ip netns add "$NS"
mvn -q -B -ntp -pl proto,lb install -DskipTests >/dev/null
mvn -q -B -ntp -pl lb test-compile dependency:build-classpath -Dmdep.outputFile="$WORK/cp.txt" -Dmdep.includeScope=test >/dev/null
CP="lb/target/test-classes:lb/target/classes:$(cat "$WORK/cp.txt")"
java -Xmx2g ${BENCH_JAVA_OPTS:-} -cp "$CP" io.portolan.lb.nftables.NftBench "$NS" "$SERVICES" "$INSTANCES" | tee "$WORK/out.txt"
load=$(sed -n 's/^load from empty: \([0-9.]*\) s.*/\1/p' "$WORK/out.txt")
change=$(sed -n 's/^one instance change: median \([0-9.]*\) ms.*/\1/p' "$WORK/out.txt")
echo "kube-proxy anchors: 540 s to create 10,000 x 2; 141 ms per added service at 10,000"
awk -v l="$load" -v c="$change" 'BEGIN { printf "ratios: load %.0fx faster than kube-proxy (with 5x the endpoints), change %.0fx faster\n", 540 / l, 141 / c }'
nft_rss=$( (ip netns exec "$NS" /usr/bin/time -f %M nft -j list table ip portolan >/dev/null) 2>&1 | tail -1 || true)
echo "nft RSS while listing the whole table (as a restart does): ${nft_rss:-?} KB"
