#!/usr/bin/env bash
# The status page at 10,000 services x 10 instances: what a poll of GET /v1/status/services costs when
# nothing changed (304 on the kept document's ETag), next to the cached document, GET /v1/status and,
# as the peer, GET /v1/snapshot (the whole snapshot serialized per request); then the page's load and
# filter in headless Chromium (Debian's chromium). Everything on loopback, in one JVM.
# Usage: bench/statuspage/run.sh [services] [instances] [requests] [rounds]   (default 10000 10 200 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }
# built in the reactor (no install: the modules resolve from their target/ directories)
mvn -q -B -o -pl agent -am -DskipTests test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.cp >/dev/null
cp="agent/target/test-classes:agent/target/classes:$(cat agent/target/bench.cp)"
java -Xmx2g -cp "$cp" io.portolan.agent.admin.StatusPageBench "${1:-10000}" "${2:-10}" "${3:-200}" "${4:-3}"
