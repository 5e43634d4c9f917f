#!/usr/bin/env bash
# Fleet simulation (agent/src/test/java/io/portolan/agent/fleetsim/FleetSim.java): AGENTS simulated agents,
# each the real etcd registry (its own connections and watch stream, its node lease), RegistryState and
# SnapshotPublisher with a light consumer, in WORKERS JVMs, against a 3-member etcd on 127.88.N.1-3; a writer
# (20 writes/s, then 200 writes/s), a prober timing etcd's own puts. Prints: each agent's cost to etcd when
# idle, registration -> every agent's snapshot, re-lists after a compaction, a member restart, a leader
# change, and an offline group's re-lists after it comes back past a compaction. See bench/README.md.
# Needs etcd-server and etcd-client (Debian), iproute2 (ss). 250 agents in one JVM: about 5 minutes on 2 loaded
# cores; 1,000 agents needed more CPU than 2 shared cores gave (bench/README.md, "fleetsim"). Every wait is bounded.
# Usage: bench/fleetsim/run.sh [AGENTS=1000] [WORKERS=4] [OFFLINE=AGENTS/5] [STEADY_S=30] [BURST_S=10] [BACKGROUND=200]
#   FLEETSIM_ETCD_FLAGS="--experimental-watch-progress-notify-interval=1s"  extra etcd flags
#   FLEETSIM_WORKER_OPTS="-Xmx3g -Xss512k"                                   each worker JVM's options
#   FLEETSIM_OPTS="-Dfleetsim.rampPerSecond=10 -Dfleetsim.idleOnly=true -Dfleetsim.announce=false"  (see FleetSim)
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
for p in etcd-server etcd-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# Built in the reactor (no install: the other modules resolve to their target/classes).
mvn -q -B -o -pl agent -am test-compile dependency:build-classpath -Dmdep.outputFile=target/fleetsim.cp -Dmdep.includeScope=test >/dev/null
cp="agent/target/test-classes:agent/target/classes:$(cat agent/target/fleetsim.cp)"
exec java -Xmx1g ${FLEETSIM_OPTS:-} -Dfleetsim.etcdFlags="${FLEETSIM_ETCD_FLAGS:-}" -Dfleetsim.workerOpts="${FLEETSIM_WORKER_OPTS:--Xmx3g -Xss512k}" \
  -cp "$cp" io.portolan.agent.fleetsim.FleetSim "$@"
