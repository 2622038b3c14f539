#!/usr/bin/env bash
# Upload, build and scale benchmark (issue 10): prints figures side by side with a baseline, asserts nothing.
#   - warm redeploy: `bim deploy` of a changed .env (new container, reused image) vs the naive
#     `docker stop && docker rm && docker run && nginx -s reload` swap of the same image
#   - unchanged redeploy: `bim deploy` when nothing changed
#   - a 50 MB folder: first deploy, one changed 1 KB file, unchanged (bytes sent and seconds), each beside
#     the same deploy in the older wire format (the whole folder as one gzip tar, built on the server:
#     what bim sent before issue 10)
#   - --build local (a throwaway dockerd stands in for the developer's machine): first deploy, then one
#     changed file (bytes of image layers sent), beside the whole image (`docker save | gzip`)
#   - bimd with 10,000 apps registered (BENCH_APPS): start time, RSS, `bim apps` and `bim status` latency,
#     beside the same bimd with 2 apps and the targets (<= 100 MiB, < 200 ms)
# Loopback only; bounded; cleans up everything it starts.
# Usage: bench/upload_bench.sh [BUILD_DIR]    (make bench)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
WORK=$(mktemp -d /tmp/bim-ubench-XXXXXX)
APPS=${BENCH_APPS:-10000}
RUNS=${BENCH_RUNS:-5}
. "$ROOT/tests/lib/bimd.sh"
NAIVE_HTTP=$(free_port); NAIVE_APP=$(free_port)
APP="ubench-$(date +%s)"
LABEL="im.backend.bim.bench=$APP"
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/home/.cache"; mkdir -p "$HOME"
LAPTOP=""  # the throwaway dockerd's directory (and LAPTOP_NS its network namespace)

cleanup() {
  naive_nginx_stop "$WORK/naive"
  docker_remove_labelled "$LABEL"
  if [ -n "$LAPTOP" ] && [ -f "$LAPTOP/dockerd.pid" ]; then
    local pid
    pid=$(cat "$LAPTOP/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    grep -o " $LAPTOP/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$LAPTOP"
  fi
  [ -n "${LAPTOP_NS:-}" ] && ip netns delete "$LAPTOP_NS" 2>/dev/null || true
  bimd_cleanup
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
human() { awk -v b="$1" 'BEGIN { if (b < 1024) printf "%d B", b; else if (b < 1048576) printf "%.1f KB", b/1024; else printf "%.1f MB", b/1048576 }'; }
json_num() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" | head -n 1; }
# Runs `bim deploy DIR --json [args]`; prints "<ms> <bytes sent>".
deploy() {
  local dir=$1 t0 out; shift
  t0=$(now_ms)
  out=$("$BUILD/bim" deploy "$dir" --json "$@" 2>/dev/null) || { echo "deploy of $dir failed: $out" >&2; return 1; }
  echo "$(( $(now_ms) - t0 )) $(echo "$out" | json_num sent_bytes)"
}
# The baseline for uploads: the older wire format, the whole folder as one gzip tar (no .env) built on
# the server; prints "<ms> <bytes sent>".
whole_deploy() {
  local dir=$1 app=$2 t0 out meta
  t0=$(now_ms)
  (cd "$dir" && find . -mindepth 1 ! -name .env -printf '%P\n' | sort | tar -cf - --no-recursion -T -) | gzip -1 >"$WORK/whole.tar.gz"
  meta=$(printf '{"app":"%s","port":8080,"health":{"path":"/healthz","timeout_ms":30000}}' "$app")
  out=$(curl -sS --noproxy '*' -H "Authorization: Bearer $BIM_TOKEN" -F "meta=$meta;type=application/json" \
          -F "context=@$WORK/whole.tar.gz;filename=context.tar" "$BIM_SERVER/v1/apps/$app/deploy")
  echo "$out" | grep '"event": *"result"' | grep -q '"ok": *true' || { echo "whole-tar deploy of $dir failed: $out" >&2; return 1; }
  echo "$(( $(now_ms) - t0 )) $(stat -c %s "$WORK/whole.tar.gz")"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

bimd_start "$WORK" "$BUILD" "$ROOT"

# --- warm redeploy, bim vs naive -------------------------------------------------------------
mkdir -p "$WORK/app"
cp "$ROOT/examples/hello/Dockerfile" "$WORK/app/"
cp "$BUILD/examples/hello-server" "$WORK/app/hello-server"
printf 'app = "%s"\nport = 8080\n[health]\npath = "/healthz"\ntimeout = "30s"\n' "$APP" >"$WORK/app/bim.toml"
echo "GREETING=cold" >"$WORK/app/.env"
deploy "$WORK/app" >/dev/null
warm=$(for i in $(seq 1 "$RUNS"); do echo "GREETING=warm-$i" >"$WORK/app/.env"; deploy "$WORK/app" | cut -d' ' -f1; done | median)
unchanged_runs=$(for _ in $(seq 1 "$RUNS"); do deploy "$WORK/app"; done)
unchanged=$(echo "$unchanged_runs" | cut -d' ' -f1 | median)
unchanged_bytes=$(echo "$unchanged_runs" | cut -d' ' -f2 | median)
whole_deploy "$WORK/app" "$APP-whole-small" >/dev/null
whole_unchanged_runs=$(for _ in $(seq 1 3); do whole_deploy "$WORK/app" "$APP-whole-small"; done)
whole_unchanged=$(echo "$whole_unchanged_runs" | cut -d' ' -f1 | median)
whole_unchanged_bytes=$(echo "$whole_unchanged_runs" | cut -d' ' -f2 | median)

IMAGE=$("$BUILD/bim" status "$APP" --json | sed -n 's/.*"image": "\([^"]*\)".*/\1/p' | head -n 1)
naive_nginx_start "$WORK/naive" "$NAIVE_HTTP" "$NAIVE_APP"
naive_run() { docker run -d --pull never --name "naive-$APP-$1" -l "$LABEL" -e "GREETING=v$1" -p "127.0.0.1:$NAIVE_APP:8080" "$IMAGE" >/dev/null; }
naive_run 0
naive=$(for i in $(seq 1 "$RUNS"); do
  t0=$(now_ms)
  docker stop -t 1 "naive-$APP-$((i - 1))" >/dev/null && docker rm "naive-$APP-$((i - 1))" >/dev/null
  naive_run "$i"
  naive_nginx_reload "$WORK/naive"
  echo $(( $(now_ms) - t0 ))
done | median)

# --- a 50 MB folder, one changed 1 KB file ----------------------------------------------------
BIG="$WORK/big"
mkdir -p "$BIG/data"
cp "$BUILD/examples/hello-server" "$BIG/hello-server"
for i in $(seq -w 1 50); do head -c 1048576 /dev/urandom >"$BIG/data/blob-$i.bin"; done
head -c 1024 /dev/urandom >"$BIG/data/settings.bin"
printf 'FROM scratch\nCOPY hello-server /hello-server\nCOPY data /data\nCMD ["/hello-server"]\n' >"$BIG/Dockerfile"
printf 'app = "%s-big"\nport = 8080\n[health]\npath = "/healthz"\ntimeout = "30s"\n' "$APP" >"$BIG/bim.toml"
read -r big_first_ms big_first_bytes <<<"$(deploy "$BIG")"
big_change=$(for _ in $(seq 1 3); do head -c 1024 /dev/urandom >"$BIG/data/settings.bin"; deploy "$BIG"; done)
big_change_ms=$(echo "$big_change" | cut -d' ' -f1 | median)
big_change_bytes=$(echo "$big_change" | cut -d' ' -f2 | median)
read -r big_same_ms big_same_bytes <<<"$(deploy "$BIG")"
# The same three deploys in the older wire format, on an app of their own.
read -r whole_first_ms whole_first_bytes <<<"$(whole_deploy "$BIG" "$APP-whole")"
whole_change=$(for _ in $(seq 1 3); do head -c 1024 /dev/urandom >"$BIG/data/settings.bin"; whole_deploy "$BIG" "$APP-whole"; done)
whole_change_ms=$(echo "$whole_change" | cut -d' ' -f1 | median)
whole_change_bytes=$(echo "$whole_change" | cut -d' ' -f2 | median)
read -r whole_same_ms whole_same_bytes <<<"$(whole_deploy "$BIG" "$APP-whole")"

# --- --build local, with a throwaway dockerd as the developer's machine -------------------------
LAPTOP=$(mktemp -d /tmp/bimdk-XXXXXX)
# In a network namespace of its own: a second dockerd in the machine's namespace would touch the host's
# docker0 (with --bridge=none it even deletes it).
LAPTOP_NS="bim-up-${LAPTOP##*-}"
ip netns add "$LAPTOP_NS"
nsenter --net="/run/netns/$LAPTOP_NS" dockerd --data-root "$LAPTOP/root" --exec-root "$LAPTOP/x" --pidfile "$LAPTOP/dockerd.pid" -H "unix://$LAPTOP/docker.sock" \
  --bridge=none --iptables=false --ip-masq=false >"$LAPTOP/dockerd.log" 2>&1 &
for _ in $(seq 1 600); do curl -fs --unix-socket "$LAPTOP/docker.sock" http://x/_ping >/dev/null 2>&1 && break; sleep 0.1; done
LOCAL="$WORK/local"
cp -r "$WORK/app" "$LOCAL"
printf 'app = "%s-local"\nport = 8080\n[health]\npath = "/healthz"\ntimeout = "30s"\n' "$APP" >"$LOCAL/bim.toml"
printf 'FROM scratch\nCOPY hello-server /hello-server\nCOPY version.txt /version.txt\nCMD ["/hello-server"]\n' >"$LOCAL/Dockerfile"
echo 1 >"$LOCAL/version.txt"
read -r local_first_ms local_first_bytes <<<"$(DOCKER_HOST="unix://$LAPTOP/docker.sock" deploy "$LOCAL" --build local)"
local_change=$(for i in $(seq 2 4); do echo "$i" >"$LOCAL/version.txt"; DOCKER_HOST="unix://$LAPTOP/docker.sock" deploy "$LOCAL" --build local; done)
local_change_ms=$(echo "$local_change" | cut -d' ' -f1 | median)
local_change_bytes=$(echo "$local_change" | cut -d' ' -f2 | median)
local_image_bytes=$(docker -H "unix://$LAPTOP/docker.sock" save "bim-local/$APP-local:latest" | gzip -1 | wc -c)

row() { printf '  %-44s %-30s %s\n' "$@"; }
echo "bim upload/build/scale benchmark ($(nproc) cores, $(date -u +%Y-%m-%d))"
row "" "bim" "baseline"
row "warm redeploy, .env change (median of $RUNS)" "${warm} ms" "${naive} ms naive stop/rm/run/reload (no health check)"
row "unchanged redeploy (median of $RUNS)" "${unchanged} ms, $(human "$unchanged_bytes") sent" "${whole_unchanged} ms, $(human "$whole_unchanged_bytes") sent (whole tar, med 3)"
row "50 MB folder, first deploy" "${big_first_ms} ms, $(human "$big_first_bytes") sent" "${whole_first_ms} ms, $(human "$whole_first_bytes") sent (whole tar)"
row "50 MB folder, one 1 KB file changed (med 3)" "${big_change_ms} ms, $(human "$big_change_bytes") sent" "${whole_change_ms} ms, $(human "$whole_change_bytes") sent (whole tar)"
row "50 MB folder, unchanged" "${big_same_ms} ms, $(human "$big_same_bytes") sent" "${whole_same_ms} ms, $(human "$whole_same_bytes") sent (whole tar)"
row "--build local, first deploy" "${local_first_ms} ms, $(human "$local_first_bytes") of layers" "$(human "$local_image_bytes") whole image (docker save | gzip)"
row "--build local, one file changed (med 3)" "${local_change_ms} ms, $(human "$local_change_bytes") of layers" "$(human "$local_image_bytes") whole image (docker save | gzip)"

# --- bimd with many apps registered -------------------------------------------------------------
rss_before=$(rss_kb "$BIMD_PID")
few=$("$BUILD/bim" apps --json | grep -o '"app":' | wc -l)
apps_small=$(for _ in $(seq 1 "$RUNS"); do t0=$(now_ms); "$BUILD/bim" apps --json >/dev/null; echo $(( $(now_ms) - t0 )); done | median)
kill "$BIMD_PID"; wait "$BIMD_PID" 2>/dev/null || true
"$BUILD/bim-bench-seed" "$WORK/data" "$APPS" "$APP-many" "$APP" >/dev/null
t0=$(now_ms)
# shellcheck disable=SC2086
"$BUILD/bimd" --data-dir "$WORK/data" --listen "127.0.0.1:$API_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
  --domain localhost --templates "$ROOT/templates/nginx" ${BIMD_FLAGS:-} >>"$WORK/bimd.log" 2>&1 &
BIMD_PID=$!
up=""
for _ in $(seq 1 3000); do
  curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && { up=1; break; }
  kill -0 "$BIMD_PID" 2>/dev/null || break
  sleep 0.1
done
start_ms=$(( $(now_ms) - t0 ))
if [ -z "$up" ]; then
  row "bimd with $APPS more apps" "did not start in ${start_ms} ms: $(tail -n 1 "$WORK/bimd.log")" ""
  exit 1
fi
rss_idle=$(rss_kb "$BIMD_PID")
some=$(printf '%s-many-%05d' "$APP" $(( APPS / 2 )))
apps_cli=$(for _ in $(seq 1 "$RUNS"); do t0=$(now_ms); "$BUILD/bim" apps --json >/dev/null; echo $(( $(now_ms) - t0 )); done | median)
apps_api=$(for _ in $(seq 1 "$RUNS"); do curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $BIM_TOKEN" "$BIM_SERVER/v1/apps"; done | awk '{print int($1*1000)}' | median)
status_cli=$(for _ in $(seq 1 "$RUNS"); do t0=$(now_ms); "$BUILD/bim" status "$some" --json >/dev/null; echo $(( $(now_ms) - t0 )); done | median)
listed=$("$BUILD/bim" apps --json | grep -o '"app":' | wc -l)
rss_after=$(rss_kb "$BIMD_PID")

row "bimd start, $listed apps" "${start_ms} ms" ""
row "bimd RSS, $listed apps (idle / after calls)" "$(( rss_idle / 1024 )) / $(( rss_after / 1024 )) MiB" "$(( rss_before / 1024 )) MiB with $few apps; target <= 100 MiB"
row "bim apps --json, $listed apps (median)" "${apps_cli} ms CLI, ${apps_api} ms API" "${apps_small} ms with $few apps; target < 200 ms"
row "bim status one app, $listed apps (median)" "${status_cli} ms" "target < 200 ms"
