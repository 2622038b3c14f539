#!/usr/bin/env bash
# Deploy benchmark: prints figures, asserts nothing.
#   - bim deploy of the demo app: cold (nothing cached) and warm (a changed file, build cache hot), median of runs
#   - bim rollback: end to end, median of runs
#   - errors seen by a steady load through nginx during bim deploys, and during the same number of
#     naive `docker stop && docker run && nginx -s reload` swaps, for comparison
#   - watch after the switch: a release that dies after going live, the time from bimd noticing it to
#     traffic back on the previous release, and the errors a steady load sees across it
# Loopback only; the load is bounded (hey -z, ~300 req/s). Cleans up everything it starts.
# Usage: bench/deploy_bench.sh [BUILD_DIR]    (make bench)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d /tmp/bim-bench-XXXXXX)
SWAPS=${BENCH_SWAPS:-6}
. "$ROOT/tests/lib/bimd.sh"
NAIVE_HTTP=$(free_port); NAIVE_APP=$(free_port)
APP="bench-$(date +%s)"
LABEL="im.backend.bim.bench=$APP"
export HOME="$WORK/home"; mkdir -p "$HOME"

cleanup() {
  naive_nginx_stop "$WORK/naive"
  docker_remove_labelled "$LABEL"
  bimd_cleanup
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
# Runs hey in the background for $1 seconds against host $2 on port $3; writes its report to $4 and
# its pid to HEY_PID.
load() { hey -z "${1}s" -c 4 -q 75 -host "$2" "http://127.0.0.1:$3/" >"$4" 2>&1 & HEY_PID=$!; }
# Counts non-2xx responses and transport errors in a hey report.
errors_in() {
  awk '/Status code distribution/{s=1;next} /Error distribution/{s=0;e=1;next}
       s && /\[/ {gsub(/[\[\]]/,"",$1); if ($1 !~ /^2/) bad+=$2}
       e && /\[/ {gsub(/[\[\]]/,"",$1); err+=$1}
       END {printf "%d non-2xx, %d errors", bad, err}' "$1"
}
total_in() { awk '/Status code distribution/{s=1;next} /Error distribution/{s=0} s && /\[/ {n+=$2} END {print n+0}' "$1"; }

bimd_start "$WORK" "$BUILD" "$ROOT"

cp -r "$ROOT/examples/hello" "$WORK/app"
cp "$BUILD/examples/hello-server" "$WORK/app/hello-server"
printf 'app = "%s"\nport = 8080\n[health]\npath = "/healthz"\ntimeout = "30s"\n' "$APP" >"$WORK/app/bim.toml"
deploy_ms() { local t0; t0=$(now_ms); "$BUILD/bim" deploy "$WORK/app" >/dev/null 2>&1; echo $(( $(now_ms) - t0 )); }

# Cold: a unique file defeats the builder cache for the COPY layer.
date +%s%N >"$WORK/app/build-id"
cold=$(deploy_ms)
# Warm: a changed file each time (an unchanged folder would be "nothing to deploy"), build cache hot.
warm=$(for _ in 1 2 3 4 5; do date +%s%N >"$WORK/app/build-id"; deploy_ms; done | median)
rollback=$(for _ in 1 2 3; do t0=$(now_ms); "$BUILD/bim" rollback "$APP" >/dev/null 2>&1; echo $(( $(now_ms) - t0 )); done | median)

# Zero downtime: load through nginx while bim deploys alternate two versions.
load $((SWAPS * 2 + 4)) "$APP.localhost" "$HTTP_PORT" "$WORK/hey-bim.txt"
sleep 1
for i in $(seq 1 "$SWAPS"); do
  echo "GREETING=v$((i % 2))" >"$WORK/app/.env"
  "$BUILD/bim" deploy "$WORK/app" >/dev/null 2>&1
  sleep 0.5
done
wait "$HEY_PID" || true

# The naive way: one container on a fixed port behind a plain nginx; stop the old, run the new, reload.
# The live release's image (older tags may have been pruned by now).
IMAGE=$("$BUILD/bim" status "$APP" --json | sed -n 's/.*"image": "\([^"]*\)".*/\1/p' | head -n 1)
naive_nginx_start "$WORK/naive" "$NAIVE_HTTP" "$NAIVE_APP"
# --pull never: there is no registry, and a bench must not try to reach one.
naive_run() { docker run -d --pull never --name "naive-$APP-$1" -l "$LABEL" -e "GREETING=v$1" -p "127.0.0.1:$NAIVE_APP:8080" "$IMAGE" >/dev/null; }
naive_run 0
sleep 1
load $((SWAPS * 2 + 4)) "naive.localhost" "$NAIVE_HTTP" "$WORK/hey-naive.txt"
sleep 1
prev=0
for i in $(seq 1 "$SWAPS"); do
  docker stop -t 1 "naive-$APP-$prev" >/dev/null && docker rm "naive-$APP-$prev" >/dev/null
  naive_run "$i"
  naive_nginx_reload "$WORK/naive"
  prev=$i
  sleep 0.5
done
wait "$HEY_PID" || true

# Watch after the switch: a release that exits 3 s after it started is rolled back automatically; bimd
# records the time from noticing the failure to the route being back on the old release.
printf 'app = "%s"\nport = 8080\n[health]\npath = "/healthz"\ntimeout = "30s"\nwatch = "30s"\n' "$APP" >"$WORK/app/bim.toml"
echo "GREETING=before" >"$WORK/app/.env"
"$BUILD/bim" deploy "$WORK/app" >/dev/null 2>&1
load 12 "$APP.localhost" "$HTTP_PORT" "$WORK/hey-watch.txt"
sleep 1
printf 'GREETING=dies\nEXIT_AFTER_MS=3000\n' >"$WORK/app/.env"
"$BUILD/bim" deploy "$WORK/app" --wait-watch >/dev/null 2>&1 || true
wait "$HEY_PID" || true
watch_ms=$("$BUILD/bim" status "$APP" --json | sed -n 's/.*"switched_ms_after_detection": \([0-9]*\).*/\1/p' | head -n 1)

cat <<REPORT
bim deploy benchmark (demo app, $(nproc) cores, $(date -u +%Y-%m-%d))
  deploy, cold (no build cache):      ${cold} ms
  deploy, warm build (median of 5):   ${warm} ms
  rollback, end to end (median of 3): ${rollback} ms
  load during $SWAPS bim deploys:          $(total_in "$WORK/hey-bim.txt") requests, $(errors_in "$WORK/hey-bim.txt")
  load during $SWAPS naive stop/run/reload: $(total_in "$WORK/hey-naive.txt") requests, $(errors_in "$WORK/hey-naive.txt")
  watched release dies -> traffic back on the previous one: ${watch_ms:-?} ms after bimd saw it
  load across that automatic rollback:  $(total_in "$WORK/hey-watch.txt") requests, $(errors_in "$WORK/hey-watch.txt")
REPORT
