#!/usr/bin/env bash
# MCP conformance: starts a real bimd (own data dir, free ports) and runs conformance.mjs, which drives
# `bim mcp` with the official MCP TypeScript SDK client. Installs the SDK from package-lock.json
# (npm ci) when node_modules is missing. Cleans up bimd, its nginx, and every container and image
# carrying the instance's label, pass or fail.
# Usage: tests/mcp/run.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/mcp"
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d /tmp/bim-mcp-XXXXXX)
. "$ROOT/tests/lib/bimd.sh"
export HOME="$WORK/home"
mkdir -p "$HOME"

cleanup() {
  status=$?
  [ $status -ne 0 ] && { echo "--- bimd log"; tail -n 100 "$WORK/bimd.log" 2>/dev/null || true; }
  bimd_cleanup
  exit $status
}
trap cleanup EXIT

fail() { echo "mcp: FAILED: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (scripts/setup.sh installs it)"
if [ ! -d "$HERE/node_modules/@modelcontextprotocol/sdk" ]; then
  echo "mcp: npm ci (installing @modelcontextprotocol/sdk from package-lock.json)"
  (cd "$HERE" && npm ci --no-audit --no-fund) || fail "npm ci failed in $HERE"
fi

echo "mcp: start bimd"
bimd_start "$WORK" "$BUILD" "$ROOT" || fail "bimd did not start"

echo "mcp: node conformance.mjs"
BIM_BIN="$BUILD/bim" HELLO_SERVER="$BUILD/examples/hello-server" WORK="$WORK" node "$HERE/conformance.mjs"
