#!/usr/bin/env bash
# The node's HTTPS surface under load: /health latency while 16 clients do audited record reads,
# against /health idle on the same node in the same run (bench/http_bench.cpp says what is
# measured), with YES/NO goal lines and the load average before and after. Exits non-zero when a
# read was not answered (correctness), never on timings.
# Usage: bench/http_bench.sh [build dir, default build] [--quick] [--workers N]
#   --quick: 3 s of load instead of 10; --workers: the node's https.worker_threads.
. "$(dirname "$0")/common.sh"
bench_options "$@"
build="$root/build"
extra=()
set -- "${args[@]+"${args[@]}"}"
while [ $# -gt 0 ]; do
  case "$1" in
    --workers) extra+=(--workers "$2"); shift 2 ;;
    *) build="$1"; shift ;;
  esac
done
build="$(cd "$build" && pwd)"
for program in bench/http_bench node/dm2d node/dm2; do
  [ -x "$build/$program" ] || { echo "http_bench.sh: $build/$program not built (scripts/build.sh release)" >&2; exit 2; }
done
bench_tmp
export DM2_BINARY_DIR="$build"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench/http_bench" "$tmp/node" ${quick:+--quick} "${extra[@]+"${extra[@]}"}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
