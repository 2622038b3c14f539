#!/usr/bin/env bash
# The `package` suite: bim's Debian package on a clean Debian 12 root, the way a person renting a fresh
# VPS would use it.
#   1. build the .deb from the build tree (cpack) and check what it ships and depends on;
#   2. install it with apt into a clean Debian root (debootstrap --variant=minbase plus systemd, which
#      every Debian server has). Both slow parts are cached between runs as tarballs: the pristine root
#      (debootstrap takes minutes) and that root after apt resolved and installed the package's
#      Depends line from Debian's mirror (docker.io, nginx, its Lua module, the libraries), keyed by
#      that exact line; so a changed dependency is resolved from the clean root again, and every run
#      installs the package itself with apt (its maintainer scripts included);
#   3. check the installed bimd.service with `systemd-analyze verify`;
#   4. start the installed bimd (chrooted into that root: its own nginx, its own templates, no
#      --templates) against a dockerd of this test's own, all inside a network namespace of the test,
#      and deploy the demo app three times (three apps) with the installed bim;
#   5. simulate a reboot: bimd, nginx, dockerd, containerd and every container process are SIGKILLed,
#      then dockerd and bimd start again: every app serves again, with no new release.
# The machine's own dockerd is never touched. Everything (namespace, dockerd, mounts, root) is named
# with a random id and removed on exit, pass or fail; two runs at once do not collide.
# Usage: tests/package/run.sh BUILD_DIR        Needs root, debootstrap, systemd-analyze, nsenter.
set -euo pipefail
ROOT_SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT_SRC/build}" && pwd)
ID=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
WORK=/var/tmp/bim-package-$ID        # not /tmp: dockerd's overlay2 data root lives here
NS=bimpkg-$ID
ROOT=$WORK/root
CACHE=${BIM_PACKAGE_CACHE:-/var/cache/bim-tests}
MIRROR=${BIM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SOCK_IN_ROOT=/run/bim-test-docker.sock
DOCKERD_PID="" BIMD_PID=""
T0=$(date +%s%N)

step() { echo "package: [$(( ($(date +%s%N) - T0) / 1000000 )) ms] $*"; }
fail() { echo "package: FAILED: $*" >&2; exit 1; }
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
# The installed programs run inside the clean root, in the test's namespace, with a plain PATH.
in_root() { in_ns chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
docker_api() { curl -fsS --max-time 10 --unix-socket "$ROOT$SOCK_IN_ROOT" "http://localhost$1"; }

# Started with nsenter/chroot/env, which exec in turn, so $! is the daemon itself; its own pid file
# confirms it.
start_dockerd() {
  nsenter --net="/run/netns/$NS" dockerd --data-root "$WORK/docker" --exec-root "$WORK/dexec" \
    --pidfile "$WORK/dockerd.pid" -H "unix://$ROOT$SOCK_IN_ROOT" --log-level warn >>"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 150); do
    docker_api /_ping >/dev/null 2>&1 && { DOCKERD_PID=$(cat "$WORK/dockerd.pid"); return 0; }
    sleep 0.2
  done
  tail -n 20 "$WORK/dockerd.log" >&2
  fail "the test's dockerd did not answer"
}

start_bimd() {
  nsenter --net="/run/netns/$NS" chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /usr/bin/bimd --data-dir /var/lib/bim --docker-socket "$SOCK_IN_ROOT" >>"$WORK/bimd.log" 2>&1 &
  BIMD_PID=$!
  for _ in $(seq 1 150); do
    if in_ns curl -fsS --max-time 2 http://127.0.0.1:7878/healthz >/dev/null 2>&1; then
      BIMD_PID=$(cat "$ROOT/var/lib/bim/bimd.pid")
      return 0
    fi
    kill -0 "$BIMD_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$WORK/bimd.log" >&2
  fail "the installed bimd did not answer on 127.0.0.1:7878"
}

# Every process of this test's dockerd: dockerd, its containerd, the shims and the containers.
docker_tree_pids() {
  local pids="" c
  for c in $(docker_api "/containers/json" 2>/dev/null | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
    local pid
    pid=$(docker_api "/containers/$c/json" | grep -o '"Pid":[0-9]*' | head -n1 | cut -d: -f2)
    [ -n "$pid" ] && [ "$pid" != 0 ] && pids="$pids $pid $(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
  done
  [ -f "$WORK/dexec/containerd/containerd.pid" ] && pids="$pids $(cat "$WORK/dexec/containerd/containerd.pid")"
  echo "$pids $DOCKERD_PID"
}

nginx_pids() {
  local master
  master=$(cat "$ROOT/var/lib/bim/nginx/nginx.pid" 2>/dev/null || true)
  [ -n "$master" ] && echo "$master $(pgrep -P "$master" | tr '\n' ' ')"
}

cleanup() {
  local status=$?
  set +e
  if [ $status -ne 0 ]; then
    echo "--- bimd log (last lines)"; tail -n 40 "$WORK/bimd.log" 2>/dev/null
    echo "--- dockerd log (last lines)"; tail -n 20 "$WORK/dockerd.log" 2>/dev/null
  fi
  [ -n "$BIMD_PID" ] && kill -9 "$BIMD_PID" 2>/dev/null
  for p in $(nginx_pids); do kill -9 "$p" 2>/dev/null; done
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    # Containers first, so dockerd unmounts their layers; then dockerd itself.
    for c in $(docker_api "/containers/json?all=1" 2>/dev/null | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
      curl -fsS --max-time 30 --unix-socket "$ROOT$SOCK_IN_ROOT" -X DELETE "http://localhost/containers/$c?force=1" >/dev/null
    done
    kill "$DOCKERD_PID"
    for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$DOCKERD_PID" 2>/dev/null
  fi
  for p in $(docker_tree_pids 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  # Whatever is still mounted below WORK (the root's /proc and /dev, dockerd's layers) or below a cache
  # root this run was making when it was stopped, deepest first.
  for d in "$WORK" "$CACHE/bootstrap-$ID" "$CACHE/deps-$ID"; do
    grep -o " $d[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m"; done
  done
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK" "$CACHE/bootstrap-$ID" "$CACHE/deps-$ID" "$CACHE"/bookworm-*.tar.tmp-"$ID"
  exit $status
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # ctest's timeout or Ctrl-C: clean up all the same
mkdir -p "$WORK" "$CACHE"

step "build the Debian package from $BUILD"
cpack -G DEB -B "$WORK/deb" --config "$BUILD/CPackConfig.cmake" >"$WORK/cpack.log" 2>&1 || { cat "$WORK/cpack.log"; fail "cpack"; }
DEB=$(ls "$WORK"/deb/bim_*.deb)
depends=$(dpkg-deb -f "$DEB" Depends)
for d in docker.io nginx libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core; do
  echo "$depends" | grep -Eq "(^|, )$d(,|$| )" || fail "the package does not depend on $d: $depends"
done
files=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for f in ./usr/bin/bim ./usr/bin/bimd ./usr/share/bim/templates/nginx/app.conf.mustache \
         ./usr/share/bim/templates/init/bim.toml.mustache ./usr/lib/systemd/system/bimd.service ./etc/default/bimd; do
  echo "$files" | grep -qx "$f" || fail "the package lacks $f"
done
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -qx /etc/default/bimd || fail "/etc/default/bimd is no conffile"
step "$(basename "$DEB"): $(du -k "$DEB" | cut -f1) KiB, Depends: $depends"

# Root setup for apt inside a Debian root: /proc, /dev, DNS, and no service starts (policy-rc.d).
prepare_root() {
  mount -t proc proc "$1/proc"
  mount --bind /dev "$1/dev"
  cp /etc/resolv.conf "$1/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d" && chmod 755 "$1/usr/sbin/policy-rc.d"
}
apt_in() {
  local root=$1; shift
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -c "$*"
}
# Made once per key and kept; stale after a week (Debian's security updates). Concurrent runs wait for
# the one making them.
stale() { [ ! -s "$1" ] || [ -n "$(find "$1" -mtime +7)" ]; }
dep_names=$(echo "$depends" | tr ',' '\n' | sed 's/(.*)//; s/|.*//' | xargs)
deps_key=$(printf '%s' "$dep_names" | sha256sum | cut -c1-16)
BASE=$CACHE/bookworm-minbase-systemd.tar
DEPS=$CACHE/bookworm-deps-$deps_key.tar

step "a clean Debian 12 root with the package's dependencies (cached in $CACHE)"
(
  flock 9
  if stale "$BASE"; then
    tmp=$CACHE/bootstrap-$ID
    t=$(date +%s)
    debootstrap --variant=minbase --include=systemd bookworm "$tmp" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
      { tail -n 20 "$WORK/debootstrap.log"; rm -rf "$tmp"; exit 1; }
    chroot "$tmp" apt-get clean
    tar -C "$tmp" -cf "$BASE.tmp-$ID" . && mv "$BASE.tmp-$ID" "$BASE"
    rm -rf "$tmp"
    echo "package: made the pristine root in $(( $(date +%s) - t )) s (once; later runs reuse $BASE)"
  fi
  if stale "$DEPS"; then
    tmp=$CACHE/deps-$ID
    t=$(date +%s)
    mkdir -p "$tmp" "$CACHE/archives" && tar -C "$tmp" -xf "$BASE" && prepare_root "$tmp"
    cp "$CACHE"/archives/*.deb "$tmp/var/cache/apt/archives/" 2>/dev/null || true
    ok=0
    apt_in "$tmp" "apt-get update -qq && apt-get install -y -qq --no-install-recommends $dep_names" \
      >"$WORK/apt-deps.log" 2>&1 || ok=$?
    cp -n "$tmp"/var/cache/apt/archives/*.deb "$CACHE/archives/" 2>/dev/null || true
    chroot "$tmp" apt-get clean
    umount -l "$tmp/dev" "$tmp/proc"
    [ $ok = 0 ] && tar -C "$tmp" -cf "$DEPS.tmp-$ID" . && mv "$DEPS.tmp-$ID" "$DEPS"
    rm -rf "$tmp"
    [ $ok = 0 ] || { tail -n 30 "$WORK/apt-deps.log"; exit 1; }
    find "$CACHE" -maxdepth 1 -name 'bookworm-deps-*.tar' ! -name "$(basename "$DEPS")" -mtime +0 -delete
    echo "package: apt resolved and installed the Depends line into the clean root in $(( $(date +%s) - t )) s (once per Depends line; later runs reuse $DEPS)"
  fi
) 9>"$CACHE/lock" || fail "the clean root with the package's dependencies"
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$DEPS"
prepare_root "$ROOT"
cp "$DEB" "$ROOT/tmp/"

step "apt-get install ./$(basename "$DEB") in that root"
apt_in "$ROOT" "apt-get install -y -qq --no-install-recommends /tmp/$(basename "$DEB")" \
  >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log"; fail "apt-get install of the package"; }
for f in /usr/bin/bimd /usr/bin/bim /usr/sbin/nginx /usr/sbin/dockerd /usr/share/bim/templates/nginx/nginx.conf.mustache \
         /usr/lib/nginx/modules/ngx_http_lua_module.so; do
  [ -e "$ROOT$f" ] || fail "$f is not installed"
done
[ -d "$ROOT/var/lib/bim" ] && [ "$(stat -c %a "$ROOT/var/lib/bim")" = 700 ] || fail "postinst did not make /var/lib/bim (0700)"
grep -q "^ExecStart=/usr/bin/bimd --data-dir /var/lib/bim \$BIMD_OPTS$" "$ROOT/usr/lib/systemd/system/bimd.service" ||
  fail "bimd.service does not run the installed bimd: $(grep ExecStart "$ROOT/usr/lib/systemd/system/bimd.service")"

step "systemd-analyze verify bimd.service"
systemd-analyze verify --root="$ROOT" /usr/lib/systemd/system/bimd.service >"$WORK/verify.log" 2>&1 ||
  { cat "$WORK/verify.log"; fail "systemd-analyze verify"; }
if grep -i "bimd.service" "$WORK/verify.log"; then fail "systemd-analyze has remarks about bimd.service"; fi
for want in "Restart=on-failure" "After=network-online.target docker.service" "KillMode=process"; do
  grep -qx "$want" "$ROOT/usr/lib/systemd/system/bimd.service" || fail "bimd.service lacks $want"
done

step "start the installed bimd (defaults: API on 127.0.0.1:7878, data in /var/lib/bim) with a dockerd of its own"
ip netns add "$NS"
ip -n "$NS" link set lo up
start_dockerd
start_bimd
grep -q "API on http://127.0.0.1:7878" "$WORK/bimd.log" || fail "bimd's API is not on loopback: $(head -n1 "$WORK/bimd.log")"
TOKEN=$(cat "$ROOT/var/lib/bim/admin.token")
in_root /usr/bin/bim login http://127.0.0.1:7878 --token "$TOKEN" >/dev/null || fail "bim login"
mkdir -p "$ROOT/root/hello"
cp "$ROOT_SRC"/examples/hello/{Dockerfile,bim.toml,.env,.dockerignore} "$ROOT/root/hello/"
cp "$BUILD/examples/hello-server" "$ROOT/root/hello/"
APPS="hello hello-b hello-c"
for app in $APPS; do
  in_root /usr/bin/bim deploy /root/hello --app "$app" >"$WORK/deploy-$app.log" 2>&1 ||
    { cat "$WORK/deploy-$app.log"; fail "bim deploy --app $app"; }
done
serves() { [ "$(in_ns curl -s --max-time 2 -H "Host: $1.localhost" http://127.0.0.1/ 2>/dev/null)" = "Hello from bim! deployed with bim" ]; }
for app in $APPS; do serves "$app" || fail "$app does not serve after its deploy"; done
releases() { in_root /usr/bin/bim releases "$1" --json | grep -c '"release":'; }
declare -A before
for app in $APPS; do before[$app]=$(releases "$app"); done

step "simulated reboot: SIGKILL bimd, nginx, dockerd, containerd and every container"
victims="$BIMD_PID $(nginx_pids) $(docker_tree_pids)"
# shellcheck disable=SC2086
kill -9 $victims 2>/dev/null || true
for p in $victims; do for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
BIMD_PID=""
in_ns curl -s --max-time 2 -o /dev/null http://127.0.0.1/ && fail "something still serves port 80 after the kill"
start_dockerd
t_bimd=$(date +%s%N)
start_bimd
back=0
deadline=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
  back=0
  for app in $APPS; do serves "$app" && back=$((back + 1)); done
  [ "$back" = 3 ] && break
  sleep 0.1
done
ms=$(( ($(date +%s%N) - t_bimd) / 1000000 ))
[ "$back" = 3 ] || fail "after the reboot only $back of 3 apps serve"
echo "[ figures  ] after a simulated reboot: 3 of 3 apps serve again ${ms} ms after bimd started (from the Debian package)"
for app in $APPS; do
  [ "$(releases "$app")" = "${before[$app]}" ] || fail "$app has a new release after the reboot"
done
step "1 passed: the package installs, its unit verifies, and its bimd survives a reboot"
