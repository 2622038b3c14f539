#!/usr/bin/env bash
# Installs everything bim needs to build, test and run on Debian 12, and starts dockerd if its socket
# does not answer. Idempotent: packages already installed are skipped, a running dockerd is left alone.
# Usage: scripts/setup.sh            (run as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libcurl4-openssl-dev nlohmann-json3-dev libcli11-dev libfmt-dev libsqlite3-dev
  libtomlplusplus-dev libkainjow-mustache-dev libarchive-dev libsodium-dev libgit2-dev
  libgtest-dev libgmock-dev libboost1.81-dev libssl-dev libyaml-cpp-dev
  docker.io docker-compose iptables nginx busybox-static wrk hey ca-certificates git curl
  # Routes as data: nginx's Lua module (with its NDK dependency) and resty.core, which it requires.
  libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core
  docker-registry iproute2 iptables util-linux
  # The package suite: builds the .deb (dpkg-dev), installs it into a debootstrapped Debian root, checks
  # the unit with systemd-analyze and runs its own dockerd in a network namespace (iproute2, nsenter).
  debootstrap dpkg-dev systemd
  # HTTPS: lego is bimd's ACME client; caddy's acme_server is the private CA of the https suite;
  # openssl makes the suite's own certificates.
  lego caddy openssl
  # The dashboard suite drives bimd's /ui/ pages in headless chromium through python3-selenium.
  chromium chromium-driver python3-selenium
)
# iproute2 (ip netns), iptables and util-linux (nsenter): tests run throwaway dockerds in namespaces of
# their own (the cluster suite's Swarm hosts); docker-registry is the registry bimd runs on a cluster.
# Node.js runs the MCP conformance test (the official TypeScript SDK). Any Node >= 18 will do, so an
# existing install (e.g. from NodeSource, which bundles npm) is kept.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # --no-install-recommends keeps the install small; policy-rc.d keeps apt from starting nginx via init.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # bimd runs its own registry on a cluster (under its data dir, on the manager's address); the
  # package's system service would listen on :5000 on every interface, so it is switched off.
  if printf '%s\n' "${missing[@]}" | grep -qx docker-registry && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

docker_answers() {
  curl -s --max-time 3 --unix-socket /var/run/docker.sock http://localhost/_ping 2>/dev/null | grep -q OK
}

if ! docker_answers; then
  echo "setup: starting dockerd"
  $SUDO mkdir -p /var/log
  # setsid detaches dockerd from this shell so it outlives `make`.
  $SUDO setsid dockerd >/var/log/bim-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    docker_answers && break
    sleep 0.5
  done
  if ! docker_answers; then
    echo "setup: error: dockerd did not answer on /var/run/docker.sock; see /var/log/bim-dockerd.log" >&2
    exit 1
  fi
fi
echo "setup: ready (toolchain, libraries, docker, nginx, docker-registry)"
