#!/usr/bin/env bash
# Indexed record commits/s (record + secondary indexes + signed audit entry, one synced
# transaction) vs a plain RocksDB put loop of the same value size with sync=true, same run,
# printed as a table with the ratio (goal >= 50%). Runs in a temporary directory on the same
# file system as $TMPDIR; point TMPDIR at the data disk to measure that disk.
# Usage: bench/storage_bench.sh [build dir with storage_bench built, default build-storage] [seconds] [rounds]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-storage}"
bench="$build/bench/storage_bench"
[ -x "$bench" ] || { echo "storage_bench.sh: $bench not built (configure with -DDM2_BUILD_BENCH=ON, build target storage_bench)" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$bench" "$tmp" "${2:-2}" "${3:-3}"
