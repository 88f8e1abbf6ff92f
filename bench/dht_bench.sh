#!/usr/bin/env bash
# The overlay on 16 loopback nodes (127.0.0.60-75): time until a new record has k replicas,
# BEP44 put latency to k DHT nodes, query fan-out latency over 16,000 records (p50, p99), and
# the time to restore k replicas after killing a third of the nodes; a Markdown table with the
# goals (replicas p99 < 1 s; fan-out p99 < 250 ms).
# Usage: bench/dht_bench.sh [build dir with dht_bench built, default build-dht] [--quick]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-dht}"
bench="$build/bench/dht_bench"
[ -x "$bench" ] || { echo "dht_bench.sh: $bench not built (configure with -DDM2_BUILD_BENCH=ON, build target dht_bench)" >&2; exit 2; }
shift || true
"$bench" "$@"
