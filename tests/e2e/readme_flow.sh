#!/usr/bin/env bash
# The README flow, as a user types it: start bimd, log in, deploy examples/hello, check the URL,
# look at status/releases/logs, destroy. Uses its own data dir and free ports; cleans up pass or fail.
# Usage: tests/e2e/readme_flow.sh BUILD_DIR
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d /tmp/bim-e2e-XXXXXX)
. "$ROOT/tests/lib/bimd.sh"
export HOME="$WORK/home" BIM_SERVER="" BIM_TOKEN=""
mkdir -p "$HOME"

cleanup() {
  status=$?
  [ $status -ne 0 ] && { echo "--- bimd log"; cat "$WORK/bimd.log" 2>/dev/null || true; }
  bimd_cleanup
  exit $status
}
trap cleanup EXIT

step() { echo "e2e: $*"; }
fail() { echo "e2e: FAILED: $*" >&2; exit 1; }

step "make demo's script runs clean (no warning) and stops"
DEMO_API=$(free_port)
DEMO_HTTP=$(free_port)
demo_env=(env BUILD="$(realpath --relative-to="$ROOT" "$BUILD")" BIM_DEMO_DIR="$WORK/demo"
          BIM_DEMO_API_PORT="$DEMO_API" BIM_DEMO_HTTP_PORT="$DEMO_HTTP")
if ! "${demo_env[@]}" bash "$ROOT/scripts/demo.sh" start >"$WORK/demo.out" 2>&1; then
  cat "$WORK/demo.out"; "${demo_env[@]}" bash "$ROOT/scripts/demo.sh" stop >/dev/null 2>&1 || true
  fail "the demo failed"
fi
"${demo_env[@]}" bash "$ROOT/scripts/demo.sh" stop >>"$WORK/demo.out" 2>&1 || { cat "$WORK/demo.out"; fail "demo stop failed"; }
if grep -qi "warning" "$WORK/demo.out"; then cat "$WORK/demo.out"; fail "the demo printed a warning"; fi
grep -q "The demo app is live at http://hello.localhost:$DEMO_HTTP/" "$WORK/demo.out" || { cat "$WORK/demo.out"; fail "no URL"; }
{ grep -q "^Hello from bim! deployed with bim$" "$WORK/demo.out" && grep -q "^(HTTP 200)$" "$WORK/demo.out"; } ||
  { cat "$WORK/demo.out"; fail "the demo app did not answer"; }

step "start bimd"
bimd_start "$WORK" "$BUILD" "$ROOT" || fail "bimd did not start"
grep -q "log in with: bim login" "$WORK/bimd.log" || fail "bimd did not print how to log in"
[ "$(stat -c %a "$WORK/data/admin.token")" = 600 ] || fail "admin.token must be mode 0600"
unset BIM_SERVER BIM_TOKEN  # the flow below logs in the way a user does

step "bim login"
"$BUILD/bim" login "http://127.0.0.1:$API_PORT" --token "$(cat "$WORK/data/admin.token")"

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
"$BUILD/bim" apps --json | grep -Eq '"live": ?"v1"' || fail "apps --json does not show v1 live"

step "bim destroy hello"
"$BUILD/bim" destroy hello --yes
code=$(curl -s -o /dev/null -w '%{http_code}' --resolve "hello.localhost:$HTTP_PORT:127.0.0.1" "$URL")
[ "$code" = 404 ] || fail "after destroy the URL answers $code, not 404"
echo "e2e: 1 passed, 0 failed"
