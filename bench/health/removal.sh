#!/usr/bin/env bash
# Health removal across hosts (agent/src/test/java/io/portolan/agent/fleet/HealthRemovalBench.java), on the fleet
# harness: 3 hosts as network namespaces, a 3-member etcd, the real agent each (ROUTED, data plane none). An instance on
# host 1 checked by its agent (http:/health every INTERVAL_MS, fall FALL, rise 1) starts failing, ROUNDS times; for
# each, the time from its first failed check (the instance's server notes each check's CLOCK_MONOTONIC time) to its
# removal from tasks.web on every host (a probe JVM per host), and from its first passing check to its return.
# Needs root (namespaces), etcd-server, python3. Builds with the reactor (no mvn install).
# Usage: bench/health/removal.sh [ROUNDS=20] [INTERVAL_MS=500] [FALL=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for p in etcd-server python3 dnsutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
cp_file="$PWD/agent/target/health-removal-bench.cp"
mvn -q -B -ntp -pl agent -am -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=test >/dev/null
cp="$PWD/agent/target/test-classes:$PWD/agent/target/classes:$(cat "$cp_file")"
cd agent   # the fleet harness finds deploy/bin/portolan from here
java ${BENCH_JAVA_OPTS:-} -cp "$cp" io.portolan.agent.fleet.HealthRemovalBench "$@"
