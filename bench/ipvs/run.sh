#!/usr/bin/env bash
# The ipvs data plane at S services x N instances (default 10,000 x 10):
#  1. pure render + diff on this host (no kernel): from empty, one instance change, heap;
#  2. the real apply step INSIDE THE TEST VM (deploy/vm/run-in-vm.sh: software-emulated TCG, so
#     absolute kernel times are far slower than on hardware): full sync from empty (ipvsadm -R of
#     S*(N+1) lines, iptables-restore of S rules, ip -batch of S VIPs), one instance added and
#     removed (incremental syncs) through the persistent ipvsadm session and then with one ipvsadm
#     process per call (the way before), where each sync's time goes, the bare cost of starting a
#     process, a full resync that re-reads the kernel, and kernel memory.
#  Both parts end with the same CPU-bound Java loop and /bin/true start: VM / host = TCG slowdown.
# Usage: bench/ipvs/run.sh [SERVICES] [INSTANCES]
set -euo pipefail
cd "$(dirname "$0")/../.."
S=${1:-10000}
N=${2:-10}
WORK=$(mktemp -d "${HOME}/.cache/portolan-bench-ipvs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mvn -q -B -ntp -pl proto install -DskipTests >/dev/null
mvn -q -B -ntp -pl lb test-compile dependency:build-classpath -Dmdep.outputFile="$WORK/cp.txt" -Dmdep.includeScope=test >/dev/null
# a private copy of the classes: a build running meanwhile cannot change what the VM reads
cp -r lb/target/classes "$WORK/classes"
cp -r lb/target/test-classes "$WORK/test-classes"
CP="$WORK/test-classes:$WORK/classes:$(cat "$WORK/cp.txt")"
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

echo "== 1. pure render + diff on this host ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
"$JAVA" -Xmx2g -cp "$CP" io.portolan.lb.ipvs.IpvsBench pure "$S" "$N"

echo "== 2. kernel apply inside the test VM (TCG emulation, 2 vCPUs, 2 GiB)"
PORTOLAN_VM_TIMEOUT=${PORTOLAN_VM_TIMEOUT:-3600} deploy/vm/run-in-vm.sh \
  "$JAVA" -Xmx1g -XX:+UseSerialGC -cp "$CP" io.portolan.lb.ipvs.IpvsBench kernel "$S" "$N"
