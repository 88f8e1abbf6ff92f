#!/usr/bin/env bash
# Indexed record commits/s (record + secondary indexes + signed audit entry, one synced
# transaction) vs a plain RocksDB put loop of the same value size with sync=true, same run,
# printed as a table with the ratio (goal >= 50%). Runs in a temporary directory on the same
# file system as $TMPDIR; point TMPDIR at the data disk to measure that disk.
# Usage: bench/storage_bench.sh [build dir with storage_bench built, default build-storage] [seconds] [rounds]
. "$(dirname "$0")/common.sh"
bench_program storage_bench "${1:-}"
bench_tmp
"$bench" "$tmp" "${2:-2}" "${3:-3}"
