#!/usr/bin/env bash
# Configures and builds dm2. Usage: scripts/build.sh [release|asan] [extra cmake args...]
#   release  ->  build/       (RelWithDebInfo, tests and benchmarks)
#   asan     ->  build-asan/  (AddressSanitizer + UndefinedBehaviorSanitizer, tests only)
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-release}
shift || true
jobs=${DM2_JOBS:-$(nproc)}

case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDM2_BUILD_BENCH=ON) ;;
  asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DDM2_SANITIZE=ON -DDM2_BUILD_BENCH=OFF) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac

# ccache, when installed, lets several checkouts (and rebuilds) share compiled objects.
if command -v ccache >/dev/null 2>&1; then
  flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd .. && pwd)} CCACHE_NOHASHDIR=1
fi

cmake -S . -B "$dir" "${flags[@]}" "$@" > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
echo "build: $kind in $dir with $jobs jobs"
cmake --build "$dir" -j "$jobs"
