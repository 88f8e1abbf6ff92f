#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs every package, builds dm2
# twice (release, then ASan+UBSan), runs every test in both, then runs the fuzz targets briefly.
# This is README's second command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

bash scripts/install-deps.sh
bash scripts/build.sh release
(cd build && ctest --output-on-failure -j "$(nproc)" --timeout 600)

bash scripts/build.sh asan
# detect_leaks: LeakSanitizer runs at exit of every test binary.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j "$(nproc)" --timeout 900)

if [ -x scripts/fuzz.sh ]; then bash scripts/fuzz.sh; fi
echo "test.sh: all suites passed in $(( $(date +%s) - start )) s"
