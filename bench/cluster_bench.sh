#!/usr/bin/env bash
# Cluster benchmark (issue 9): prints figures, asserts nothing. On the cluster suite's test hosts (three
# network namespaces with one dockerd each, a Docker Swarm; tests/cluster/testbed.h), side by side for
# 1 replica and 3 replicas: release time, errors a strict load sees during releases (keep-alive never
# re-sent, and a new connection per request), errors during a host failure, and the time from the host
# failure to full capacity. See bench/cluster_bench.cpp.
# Needs root. Bounded (BENCH_TIMEOUT seconds, default 900); the bed and everything in it is removed at
# the end, pass, fail or interrupted. Traffic stays inside the bed's namespaces.
# Usage: bench/cluster_bench.sh [BUILD_DIR]    (make bench; BENCH_RELEASES=N releases per app, default 5)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
RELEASES=${BENCH_RELEASES:-5}
WORK=$(mktemp -d /tmp/bim-cluster-bench-XXXXXX)
STATE=""

cleanup() {
  [ -n "$STATE" ] && "$BUILD/cluster_testbed" down "$STATE" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "cluster_bench: forming the test bed (3 hosts, a swarm) ..."
# Owned by this shell: if it is killed, the next bed `up` (a later run or the cluster suite) sweeps it.
STATE=$("$BUILD/cluster_testbed" up --owner $$)
# The bench's temp files (bimd's data dir, app folders) live in WORK, removed above.
TMPDIR="$WORK" timeout --kill-after=20 "${BENCH_TIMEOUT:-900}" \
  "$BUILD/cluster_bench" --bed "$STATE" --releases "$RELEASES"
