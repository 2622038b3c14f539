#!/usr/bin/env bash
# HTTP flood benchmark: bimd's admin response time, another app's traffic and bimd's peak RSS during
# floods (slow headers, oversized and chunked bodies, a tenant's requests/log streams/deploys), side by
# side with no flood. Prints figures, asserts nothing; loopback only, bounded (SECONDS per scenario,
# fixed connection counts); the harness removes everything it starts.
# Usage: bench/http_bench.sh [BUILD_DIR] [SECONDS]    (make bench)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
# The floods open a few thousand sockets in one process.
ulimit -n 8192 2>/dev/null || true
exec "$BUILD/http_bench" "${2:-${BENCH_SECONDS:-8}}"
