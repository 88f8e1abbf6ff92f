#!/usr/bin/env bash
# Indexed record commits/s (record + secondary indexes + signed audit entry, one synced
# transaction) vs a plain RocksDB put loop of the same value size with sync=true, same run,
# printed as a table with the ratio (goal >= 50%) and the CPU time per operation. Runs in a
# temporary directory on the same file system as $TMPDIR; point TMPDIR at the data disk to
# measure that disk.
# Usage: bench/storage_bench.sh [build dir with storage_bench built, default build-storage]
#                               [seconds per round, default 2] [rounds, default 3] [--quick]
#   --quick: 2 rounds of 0.5 s; prints the same goal line.
. "$(dirname "$0")/common.sh"
bench_options "$@"
bench_program storage_bench "${args[0]:-}"
bench_tmp
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$quick" ]; then
  "$bench" "$tmp" 0.5 2
else
  "$bench" "$tmp" "${args[1]:-2}" "${args[2]:-3}"
fi
