#!/usr/bin/env bash
# The overlay on 16 loopback nodes (127.0.0.60-75): time until a new record has k replicas,
# BEP44 put latency to k DHT nodes, query fan-out latency over 16,000 records (p50, p99), and
# the time to restore k replicas after killing a third of the nodes; a Markdown table with the
# goals (replicas p99 < 1 s; fan-out p99 < 250 ms).
# Usage: bench/dht_bench.sh [build dir with dht_bench built, default build-dht] [--quick]
. "$(dirname "$0")/common.sh"
bench_program dht_bench "${1:-}"
shift || true
"$bench" "$@"
