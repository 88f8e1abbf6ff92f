#!/usr/bin/env bash
# Configures and builds dm2 with warnings as errors. Usage: scripts/build.sh [kind] [extra cmake args...]
#   release  ->  build/          (RelWithDebInfo, tests and benchmarks, everything)
#   asan     ->  build-asan/     (AddressSanitizer + UndefinedBehaviorSanitizer, tests only)
#   tsan     ->  build-tsan/     (ThreadSanitizer; only the node and overlay suites it runs)
#   install  ->  build-install/  (Release, -O3, no tests: the programs `cmake --install` installs)
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:-release}
shift || true
jobs=${DM2_JOBS:-$(nproc)}
targets=()  # empty: everything

case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDM2_BUILD_BENCH=ON) ;;
  asan)    dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DDM2_SANITIZE=ON -DDM2_BUILD_BENCH=OFF) ;;
  tsan)    dir=build-tsan; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDM2_TSAN=ON -DDM2_BUILD_BENCH=OFF)
           # scripts/test.sh runs the tests labelled node and dht here; nothing else is built.
           # The 16-process repair test is left to the release and ASan runs (16 TSan dm2d
           # processes on 2 cores would take most of CI's time).
           targets=(node_tests dm2d_tests consortium_tests
                    dht_logic_tests dht_tests dht_store_tests) ;;
  install) dir=build-install
           flags=(-DCMAKE_BUILD_TYPE=Release -DDM2_BUILD_TESTS=OFF -DDM2_BUILD_BENCH=OFF)
           targets=(dm2d dm2 dm2-sim) ;;
  *) echo "usage: $0 [release|asan|tsan|install]" >&2; exit 2 ;;
esac
# The project's own builds keep the code warning-free; a plain `cmake` build does not stop on one,
# and neither does the install kind, which builds as a user would (-O3 brings GCC 12's false
# positives; the release, ASan and fuzz builds keep the code itself warning-free).
if [ "$kind" != install ]; then flags+=(-DDM2_WERROR=ON); fi

# ccache, when installed, lets several checkouts (and rebuilds) share compiled objects.
if command -v ccache >/dev/null 2>&1; then
  flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd .. && pwd)} CCACHE_NOHASHDIR=1
fi

cmake -S . -B "$dir" "${flags[@]}" "$@" > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
echo "build: $kind in $dir with $jobs jobs${targets[*]:+ (targets: ${targets[*]})}"
cmake --build "$dir" -j "$jobs" ${targets[@]:+--target "${targets[@]}"}
