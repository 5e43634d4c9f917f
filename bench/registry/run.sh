#!/usr/bin/env bash
# Registry figures: convergence (etcd put -> snapshot published, p50/p99 over 1,000
# changes) and agent memory holding 10,000 services x 10 instances. Uses a real etcd on loopback.
# Usage: bench/registry/run.sh [changes] [services] [instances-per-service]
set -euo pipefail
cd "$(dirname "$0")/../.."
changes=${1:-1000}; services=${2:-10000}; per=${3:-10}
command -v etcd >/dev/null || { apt-get update -q && apt-get install -y -q etcd-server etcd-client; }
mvn -q -B -ntp -DskipTests install >/dev/null
mvn -q -B -ntp -pl agent test-compile >/dev/null
mvn -q -B -ntp -pl agent dependency:build-classpath -Dmdep.outputFile=target/bench.cp >/dev/null
cp="agent/target/test-classes:agent/target/classes:$(cat agent/target/bench.cp)"
java -cp "$cp" io.portolan.agent.bench.ConvergenceBench "$changes" 1000
java -cp "$cp" io.portolan.agent.bench.MemoryBench agent/target/portolan.jar "$services" "$per"
