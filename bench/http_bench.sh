#!/usr/bin/env bash
# The node's HTTPS surface under load: /health latency while 16 clients do audited record reads,
# against /health idle on the same node in the same run (bench/http_bench.cpp says what is
# measured). Exits non-zero when a read was not answered (correctness), never on timings.
# Usage: bench/http_bench.sh [build dir, default build] [--quick]
. "$(dirname "$0")/common.sh"
build="$(cd "${1:-$root/build}" && pwd)"
quick="${2:-}"
for program in bench/http_bench node/dm2d node/dm2; do
  [ -x "$build/$program" ] || { echo "http_bench.sh: $build/$program not built (scripts/build.sh release)" >&2; exit 2; }
done
bench_tmp
export DM2_BINARY_DIR="$build"
"$build/bench/http_bench" "$tmp/node" ${quick:+--quick}
