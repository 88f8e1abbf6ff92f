#!/usr/bin/env bash
# The overlay on 16 loopback nodes (127.0.0.60-75): time until a new record has k replicas,
# BEP44 put latency to k DHT nodes, query fan-out latency over 16,000 records (p50, p99), a query
# right after killing a third of the nodes (hedged), and the time to restore k replicas; a
# Markdown table with the goals, then the correctness checks.
# Usage: bench/dht_bench.sh [build dir with dht_bench built, default build-dht] [--quick]
# --quick: 100 records per site, fewer samples (about a minute). Exits 1 when a correctness
# check fails (a query short of hits, a put short of k, a record lost with at most k sites
# killed, replicas not restored within 60 s), never on timings: CI can run it as a check.
. "$(dirname "$0")/common.sh"
quick=
build=
for a in "$@"; do
  if [ "$a" = --quick ]; then quick=--quick; else build="$a"; fi
done
bench_program dht_bench "$build"
"$bench" $quick
