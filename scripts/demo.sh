#!/usr/bin/env bash
# The demo: starts bimd (with its own nginx) and deploys examples/hello with the bim CLI.
#   scripts/demo.sh start   (what `make demo` runs, after setup and build)
#   scripts/demo.sh stop    (what `make demo-stop` runs: destroys the demo app, stops bimd and nginx)
# Settings (env): BIM_DEMO_DIR (default ./.bim-demo), BIM_DEMO_API_PORT (7878), BIM_DEMO_HTTP_PORT (8088).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
DATA=${BIM_DEMO_DIR:-$ROOT/.bim-demo}
API_PORT=${BIM_DEMO_API_PORT:-7878}
HTTP_PORT=${BIM_DEMO_HTTP_PORT:-8088}
BIM="$ROOT/$BUILD/bim"
BIMD="$ROOT/$BUILD/bimd"
export BIM_SERVER="http://127.0.0.1:$API_PORT"

bimd_pid() {
  local pid
  pid=$(cat "$DATA/bimd.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q bimd "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
}

start() {
  mkdir -p "$DATA"
  if [ -z "$(bimd_pid)" ]; then
    echo "demo: starting bimd (data in $DATA, API on 127.0.0.1:$API_PORT, apps on 127.0.0.1:$HTTP_PORT)"
    setsid "$BIMD" --data-dir "$DATA" --listen "127.0.0.1:$API_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
      --domain localhost --templates "$ROOT/templates/nginx" >>"$DATA/bimd.log" 2>&1 </dev/null &
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break
      if ! kill -0 $! 2>/dev/null; then echo "demo: error: bimd exited; its log:" >&2; tail -n 20 "$DATA/bimd.log" >&2; exit 1; fi
      sleep 0.1
    done
    head -n 1 "$DATA/bimd.log" | sed 's/^/demo: /'
  else
    echo "demo: bimd is already running (pid $(bimd_pid))"
  fi
  "$BIM" login "$BIM_SERVER" --token "$(cat "$DATA/admin.token")"

  # No registry is reachable, so the demo image is FROM scratch around a static binary we built.
  cp "$ROOT/$BUILD/examples/hello-server" "$ROOT/examples/hello/hello-server"
  echo "demo: bim deploy examples/hello"
  "$BIM" deploy "$ROOT/examples/hello"

  URL="http://hello.localhost:$HTTP_PORT/"
  echo "demo: curl $URL"
  curl -sS --max-time 5 --resolve "hello.localhost:$HTTP_PORT:127.0.0.1" -w '(HTTP %{http_code})\n' "$URL"
  cat <<MSG

The demo app is live at $URL
  (curl resolves *.localhost to 127.0.0.1; elsewhere use: curl -H 'Host: hello.localhost' http://127.0.0.1:$HTTP_PORT/)
Try:   $BUILD/bim status hello     $BUILD/bim releases hello     $BUILD/bim logs hello
Stop:  make demo-stop    (destroys the demo app, stops bimd and its nginx)
MSG
}

stop() {
  if [ -n "$(bimd_pid)" ] && [ -f "$DATA/admin.token" ]; then
    BIM_TOKEN=$(cat "$DATA/admin.token") "$BIM" destroy hello --yes 2>/dev/null || true
    kill "$(bimd_pid)" 2>/dev/null || true
  fi
  local nginx
  nginx=$(cat "$DATA/nginx/nginx.pid" 2>/dev/null || true)
  if [ -n "$nginx" ] && kill -0 "$nginx" 2>/dev/null; then
    kill -QUIT "$nginx"
    for _ in $(seq 1 50); do kill -0 "$nginx" 2>/dev/null || break; sleep 0.1; done
  fi
  # What bimd put on the host besides its data dir (networks, firewall rules) goes too.
  for _ in $(seq 1 50); do [ -z "$(bimd_pid)" ] && break; sleep 0.1; done
  if [ -d "$DATA" ]; then "$BIMD" --data-dir "$DATA" --templates "$ROOT/templates/nginx" --teardown >/dev/null 2>&1 || true; fi
  rm -f "$ROOT/examples/hello/hello-server"
  echo "demo: stopped bimd and its nginx (state kept in $DATA; delete it to start over)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
