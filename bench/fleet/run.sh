#!/usr/bin/env bash
# Fleet figures (agent/src/test/java/io/portolan/agent/fleet/FleetBench.java), on the fleet harness:
# 3 hosts as network namespaces with a 3-member etcd and the real agent each (ROUTED layout).
#  1. convergence: CHANGES registrations and as many deregistrations through host1's registration
#     listener; for each, the time from the API's answer to the change in the DNS answer of a
#     container on every host (a probe JVM per host, inside a container namespace); p50, p99, max.
#  2. the data plane's cost across hosts: wrk from a container on host1 to nginx in a container on
#     host2, straight and through the VIP, alternating rounds, Connection: close and keep-alive;
#     VIP/direct requests/s per plane.
# Needs root (namespaces, nft), etcd, wrk, nginx, dig, python3 (deploy/test-packages.txt plus wrk and nginx).
# Usage: bench/fleet/run.sh [CHANGES=200] [SECONDS=5] [ROUNDS=3] [PLANES=nftables,userspace] [WARMUP=15]
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for p in etcd-server wrk nginx; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
mvn -q -B -ntp -DskipTests install >/dev/null
mvn -q -B -ntp -pl agent test-compile >/dev/null
mvn -q -B -ntp -pl agent dependency:build-classpath -Dmdep.outputFile=target/fleet-bench.cp -Dmdep.includeScope=test >/dev/null
cp="agent/target/test-classes:agent/target/classes:$(cat agent/target/fleet-bench.cp)"
java ${BENCH_JAVA_OPTS:-} -cp "$cp" io.portolan.agent.fleet.FleetBench "$@"
