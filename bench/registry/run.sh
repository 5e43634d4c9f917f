#!/usr/bin/env bash
# Registry figures: convergence (etcd put -> snapshot published, p50/p99 over 1,000 changes) and
# agent memory: holding SERVICES x INSTANCES with DNS on and the nftables plane programming a table
# in a network namespace of its own, and idle. Uses a real etcd on loopback; the agent runs through
# the launcher (deploy/bin/portolan) with its memory defaults. Root (network namespace, nft).
# Usage: bench/registry/run.sh [changes] [services] [instances-per-service]
set -euo pipefail
cd "$(dirname "$0")/../.."
changes=${1:-1000}; services=${2:-10000}; per=${3:-10}
command -v etcd >/dev/null || { apt-get update -q && apt-get install -y -q etcd-server etcd-client; }
# this checkout's classes and jar, from the reactor (no install: ~/.m2 is left as it is)
mvn -q -B -ntp -DskipTests package >/dev/null
mvn -q -B -ntp -pl agent test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp >/dev/null
cp="agent/target/test-classes:agent/target/classes:proto/target/classes:dns/target/classes:lb/target/classes:$(cat agent/target/bench.cp)"
java -cp "$cp" io.portolan.agent.bench.ConvergenceBench "$changes" 1000
ns=portolan-membench-$$
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip -n "$ns" link set lo up
echo "== holding $services x $per, DNS on, --dataplane nftables"
ip netns exec "$ns" java -Dmembench.agent='--dataplane nftables' -cp "$cp" io.portolan.agent.bench.MemoryBench \
  agent/target/portolan.jar "$services" "$per"
echo "== idle: nothing registered, DNS on, --dataplane nftables"
ip netns exec "$ns" java -Dmembench.agent='--dataplane nftables' -cp "$cp" io.portolan.agent.bench.MemoryBench \
  agent/target/portolan.jar 0 0
