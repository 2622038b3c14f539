#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++ (incrementally, in <build>/fuzz) and runs one of them for a
# bounded time against its committed seed corpus.
#
#   tests/fuzz/run.sh BUILD_DIR build                 # configure + build every target
#   tests/fuzz/run.sh BUILD_DIR TARGET [SECONDS]      # run fuzz_TARGET (default 20 s)
#
# New inputs libFuzzer finds go to <build>/fuzz/corpus/TARGET (not the repo). A crash leaves
# <build>/fuzz/crash-* and makes this script fail; turn it into a regression test in tests/unit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "$1" && pwd)/fuzz"
what="$2"
seconds="${3:-20}"

# Without clang the fuzz tests must fail, not vanish: a missing compiler is a broken setup.
if ! command -v clang++ >/dev/null 2>&1; then
  echo "error: clang++ is not installed, so the fuzz targets cannot be built; run scripts/setup.sh (it installs clang)" >&2
  exit 1
fi

if [[ "$what" == build ]]; then
  cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug >/dev/null
  # One job: under `make test` (ctest -j2) this build shares the machine with the host suites.
  cmake --build "$build" -j "${BIM_FUZZ_JOBS:-1}"
  exit 0
fi

binary="$build/fuzz_$what"
[[ -x "$binary" ]] || { echo "error: $binary is not built (run: $0 $1 build)" >&2; exit 2; }
mkdir -p "$build/corpus/$what"
cd "$build"
# -timeout: one input taking > 10 s is a hang. rss_limit keeps a runaway allocation a finding.
extra=()
# fuzz_http runs a real server whose per-request log line would drown libFuzzer's output.
[[ "$what" == http ]] && extra+=(-close_fd_mask=2)
exec "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" \
  -artifact_prefix="$build/" "$build/corpus/$what" "$here/corpus/$what"
