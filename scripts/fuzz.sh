#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan, coverage on every library) in their own
# build directory and runs each one briefly on its seed corpus. Any crash or sanitizer report
# fails the script. Usage: scripts/fuzz.sh [seconds per target, default 20] [build dir]
# Runs with -Werror like the project's other builds (scripts/build.sh).
set -euo pipefail

seconds="${1:-20}"
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${2:-$root/build-fuzz}"

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd "$root/.." && pwd)} CCACHE_NOHASHDIR=1
fi
cmake -S "$root" -B "$build" "${launcher[@]}" -DDM2_FUZZ=ON -DDM2_BUILD_TESTS=OFF -DDM2_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDM2_WERROR=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" >/dev/null

# Every fuzz/<name>_fuzz.cpp is a target, seeded from fuzz/corpus/<name>/ when that exists.
targets=()
for f in "$root"/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
cmake --build "$build" -j2 --target "${targets[@]}"

for t in "${targets[@]}"; do
  name="${t%_fuzz}"
  corpus="$build/fuzz-corpus/$name"  # grows here; the seeds in fuzz/corpus stay as committed
  mkdir -p "$corpus"
  seeds=()
  [ -d "$root/fuzz/corpus/$name" ] && seeds+=("$root/fuzz/corpus/$name")
  echo "fuzz: $t for ${seconds}s"
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/fuzz/$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-$name-" "$corpus" "${seeds[@]}"
done
echo "fuzz: all targets ran without findings"
