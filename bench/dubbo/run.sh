#!/usr/bin/env bash
# Dubbo figures (agent/src/test/java/io/portolan/agent/importer/dubbo/DubboBench.java), on the fleet harness: 3 hosts
# as network namespaces with a 3-member etcd and the real agent each running --import dubbo (ROUTED, data plane none).
# A real Dubbo provider (2.7.23 and 3.2.19, the projects agent/src/test/dubbo27 and agent/src/test/dubbo, resolved from
# Maven Central the first time) in a container on host 1 registers through Dubbo's own etcd3 registry and is stopped,
# REGISTRATIONS times per line; for each, the time from its key's put (an etcdctl watch on host 1) to its address in the
# DNS answer for tasks.demo-provider on every host (a probe JVM per host), and from the key's deletion to its absence.
# Needs root (namespaces), etcd-server (etcd and etcdctl), python3, dig. Builds with the reactor (no mvn install).
# Usage: bench/dubbo/run.sh [REGISTRATIONS=10] [LINES=V2_7,V3_2]
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for p in etcd-server etcd-client python3 dnsutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
cp_file="$PWD/agent/target/dubbo-bench.cp"
mvn -q -B -ntp -pl agent -am -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=test >/dev/null
cp="$PWD/agent/target/test-classes:$PWD/agent/target/classes:$(cat "$cp_file")"
cd agent   # the fleet harness and DubboRuntime find deploy/bin/portolan and src/test/dubbo* from here
java ${BENCH_JAVA_OPTS:-} -cp "$cp" io.portolan.agent.importer.dubbo.DubboBench "$@"
