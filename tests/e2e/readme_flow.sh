#!/usr/bin/env bash
# The README flow, as a user types it: start bimd, log in, deploy examples/hello, check the URL,
# look at status/releases/logs, destroy. Uses its own data dir and free ports; cleans up pass or fail.
# Usage: tests/e2e/readme_flow.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d /tmp/bim-e2e-XXXXXX)
# A port nothing listens on (bash's /dev/tcp connect fails), below the kernel's ephemeral range
# (32768+) so no outgoing connection can take it before bimd binds it.
free_port() {
  local p
  while :; do
    p=$(shuf -i 20000-32767 -n 1)
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
API_PORT=$(free_port); HTTP_PORT=$(free_port)
export HOME="$WORK/home" BIM_SERVER="" BIM_TOKEN=""
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
  [ $status -ne 0 ] && { echo "--- bimd log"; cat "$WORK/bimd.log" 2>/dev/null || true; }
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT

step() { echo "e2e: $*"; }
fail() { echo "e2e: FAILED: $*" >&2; exit 1; }

step "start bimd"
"$BUILD/bimd" --data-dir "$WORK/data" --listen "127.0.0.1:$API_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
  --domain localhost --templates "$ROOT/templates/nginx" >"$WORK/bimd.log" 2>&1 &
BIMD_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
grep -q "log in with: bim login" "$WORK/bimd.log" || fail "bimd did not print how to log in"
[ "$(stat -c %a "$WORK/data/admin.token")" = 600 ] || fail "admin.token must be mode 0600"

step "bim login"
"$BUILD/bim" login "http://127.0.0.1:$API_PORT" --token "$(cat "$WORK/data/admin.token")"
INSTANCE=$("$BUILD/bim" server --json | sed -n 's/.*"instance": "\([0-9a-f]*\)".*/\1/p')
[ -n "$INSTANCE" ] || fail "bim server --json did not report the instance"

step "bim deploy examples/hello"
cp -r "$ROOT/examples/hello" "$WORK/hello"
cp "$BUILD/examples/hello-server" "$WORK/hello/hello-server"
( cd "$WORK/hello" && "$BUILD/bim" deploy ) | tee "$WORK/deploy.out"
URL="http://hello.localhost:$HTTP_PORT/"
grep -q "is live at $URL" "$WORK/deploy.out" || fail "deploy did not print $URL"

step "curl $URL"
body=$(curl -sS --resolve "hello.localhost:$HTTP_PORT:127.0.0.1" "$URL")
[ "$body" = "Hello from bim! deployed with bim" ] || fail "unexpected body: $body"

step "bim status / releases / logs"
"$BUILD/bim" status hello | grep -q "Live:     v1" || fail "status does not show v1 live"
"$BUILD/bim" releases hello | grep -q "live" || fail "releases does not show a live release"
"$BUILD/bim" logs hello --tail 5 | grep -q "listening on port 8080" || fail "logs do not show the app's output"
"$BUILD/bim" apps --json | grep -q '"live": "v1"' || fail "apps --json does not show v1 live"

step "bim destroy hello"
"$BUILD/bim" destroy hello --yes
code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "hello.localhost:$HTTP_PORT:127.0.0.1" "$URL")
[ "$code" = 404 ] || fail "after destroy the URL answers $code, not 404"
echo "e2e: 1 passed, 0 failed"
