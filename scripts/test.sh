#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs every package, then runs the
# stages docs/ci.md describes (and what each costs): release build and tests, the quick benchmarks
# as correctness checks, fuzzing, ASan+UBSan build and tests, Release build and install check,
# and last the ThreadSanitizer build and node/overlay tests when the run has time left for them.
# This is README's second command and what .ci/run calls (with DM2_CI=1).
#
# DM2_CI=1: a skipped test of a suite that must run (labels in DM2_REQUIRED_LABELS, default
# "pacs dht web": the PACS suites skip without a private network namespace, the browser test
# without chromium or tests/web/node_modules) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)
logs=$(mktemp -d)
# ThreadSanitizer writes its reports to $logs/tsan.<pid> (tsan() below): show them before leaving.
show_tsan_reports() {
  if compgen -G "$logs/tsan.*" > /dev/null; then
    cat "$logs"/tsan.* >&2
    rm -f "$logs"/tsan.*
    echo "test.sh: ThreadSanitizer reports above" >&2
    return 1
  fi
}
trap 'show_tsan_reports || true; rm -rf "$logs"' EXIT
required_labels=${DM2_REQUIRED_LABELS:-pacs dht web}
passed=0 skipped=0 timings=()

# Runs a named stage (the rest of the arguments), timing it.
stage() {
  local name=$1 t0
  shift
  t0=$(date +%s)
  echo "test.sh: stage $name"
  "$@"
  timings+=("$(printf '%-8s %5d s' "$name" $(( $(date +%s) - t0 )))")
}

# Runs ctest in build dir $1 with timeout $2 (extra ctest arguments after), counts passed and
# skipped tests, and under DM2_CI=1 fails if a test with a required label skipped.
run_ctest() {
  local dir=$1 timeout=$2 log="$logs/$1.log"
  shift 2
  (cd "$dir" && ctest --output-on-failure -j "$(nproc)" --timeout "$timeout" "$@") | tee "$log"
  # set -e stopped at any failure: every test that ran passed.
  local total names
  total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
  # "  12 - Suite.Test (Skipped)" in ctest's "The following tests did not run" list.
  names=$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (\(Skipped\|Disabled\|Not Run\))$/\1/p' "$log")
  local n_skipped=0
  [ -n "$names" ] && n_skipped=$(wc -l <<<"$names")
  passed=$(( passed + ${total:-0} - n_skipped ))
  skipped=$(( skipped + n_skipped ))
  if [ "${DM2_CI:-0}" = 1 ] && [ -n "$names" ]; then
    local label must
    for label in $required_labels; do
      must=$(cd "$dir" && ctest -N -L "^${label}\$" | sed -n 's/^ *Test *#[0-9]*: //p')
      local bad
      bad=$(grep -Fxf <(echo "$must") <<<"$names" || true)
      if [ -n "$bad" ]; then
        echo "test.sh: tests labelled '$label' must run in CI but skipped:" >&2
        echo "$bad" >&2
        exit 1
      fi
    done
  fi
}

release() {
  bash scripts/build.sh release
  run_ctest build 600
}

asan() {
  bash scripts/build.sh asan
  # detect_leaks: LeakSanitizer runs at exit of every test binary.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan 900
}

# ThreadSanitizer on the threaded parts: the node (HTTPS io threads, overlay, query book, real
# dm2d processes) and the overlay (libtorrent sessions). Reports of every process, the dm2d
# children included, land in $logs/tsan.<pid>; any report fails the stage.
# scripts/tsan.supp lists third-party noise only (each entry says why). Only the targets
# build.sh tsan names are built; the other suites' placeholders (<target>_NOT_BUILT) are skipped.
# OMP_NUM_THREADS=1: FAISS (the stage-1 index) would run OpenMP threads from libgomp, which
# is not instrumented; one thread keeps the search on the calling thread, which TSan sees.
tsan() {
  bash scripts/build.sh tsan
  OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$root/scripts/tsan.supp:log_path=$logs/tsan" \
    run_ctest build-tsan 1800 -L '^(node|dht)$' -E '_NOT_BUILT$'
  show_tsan_reports
}

stage deps bash scripts/install-deps.sh
stage release release
stage bench bash scripts/bench-checks.sh build
stage fuzz bash scripts/fuzz.sh
stage asan asan
stage install bash scripts/check-install.sh
# TSan runs last, and only when the run so far leaves room for a cold TSan build inside CI's
# 90-minute limit (docs/ci.md): DM2_TSAN_STAGE=1 always runs it, 0 never, "auto" (default)
# runs it when at most DM2_TSAN_START_BUDGET_MIN (default 50) minutes have passed.
tsan_note="TSan not run (DM2_TSAN_STAGE=0)"
elapsed_min=$(( ($(date +%s) - start) / 60 ))
case "${DM2_TSAN_STAGE:-auto}" in
  1) stage tsan tsan; tsan_note="TSan" ;;
  auto)
    if [ "$elapsed_min" -le "${DM2_TSAN_START_BUDGET_MIN:-50}" ]; then
      stage tsan tsan; tsan_note="TSan"
    else
      tsan_note="TSan NOT RUN: ${elapsed_min} min had passed, over DM2_TSAN_START_BUDGET_MIN=${DM2_TSAN_START_BUDGET_MIN:-50}"
      echo "test.sh: $tsan_note" >&2
    fi ;;
esac

echo "test.sh: stage costs (docs/ci.md):"
printf '  %s\n' "${timings[@]}"
echo "test.sh: release and ASan+UBSan suites, ${tsan_note}, fuzzing and install check passed in $(( $(date +%s) - start )) s"
echo "test.sh: ${passed} passed, ${skipped} skipped, 0 failed"
