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
# A port nothing listens on (bash's /dev/tcp connect fails).
free_port() {
  local p
  while :; do
    p=$(shuf -i 20000-32767 -n 1)
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
API_PORT=$(free_port); HTTP_PORT=$(free_port)
export HOME="$WORK/home"
mkdir -p "$HOME"
INSTANCE=""

cleanup() {
  status=$?
  [ -n "${BIMD_PID:-}" ] && kill "$BIMD_PID" 2>/dev/null && wait "$BIMD_PID" 2>/dev/null || true
  if [ -f "$WORK/data/nginx/nginx.pid" ]; then kill -QUIT "$(cat "$WORK/data/nginx/nginx.pid")" 2>/dev/null || true; fi
  if [ -n "$INSTANCE" ]; then
    filter=$(printf '{"label":["im.backend.bim.instance=%s"]}' "$INSTANCE")
    for id in $(curl -s --unix-socket /var/run/docker.sock -G "http://localhost/v1.41/containers/json" \
                  --data-urlencode all=1 --data-urlencode "filters=$filter" | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
      curl -s --unix-socket /var/run/docker.sock -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null
    done
    for id in $(curl -s --unix-socket /var/run/docker.sock -G "http://localhost/v1.41/images/json" \
                  --data-urlencode "filters=$filter" | grep -o '"Id":"sha256:[0-9a-f]*"' | cut -d'"' -f4); do
      curl -s --unix-socket /var/run/docker.sock -X DELETE "http://localhost/v1.41/images/$id?force=1" >/dev/null
    done
  fi
  [ $status -ne 0 ] && { echo "--- bimd log"; tail -n 100 "$WORK/bimd.log" 2>/dev/null || true; }
  rm -rf "$WORK"
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
"$BUILD/bimd" --data-dir "$WORK/data" --listen "127.0.0.1:$API_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
  --domain localhost --templates "$ROOT/templates/nginx" >"$WORK/bimd.log" 2>&1 &
BIMD_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
[ -s "$WORK/data/admin.token" ] || fail "bimd did not write its admin token"

export BIM_SERVER="http://127.0.0.1:$API_PORT" BIM_TOKEN
BIM_TOKEN=$(cat "$WORK/data/admin.token")
INSTANCE=$("$BUILD/bim" server --json | sed -n 's/.*"instance": "\([0-9a-f]*\)".*/\1/p')
[ -n "$INSTANCE" ] || fail "bim server --json did not report the instance"

echo "mcp: node conformance.mjs"
BIM_BIN="$BUILD/bim" HELLO_SERVER="$BUILD/examples/hello-server" WORK="$WORK" node "$HERE/conformance.mjs"
