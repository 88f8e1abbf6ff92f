#!/usr/bin/env bash
# The quick benchmarks as CI checks (issue 14, item 2): each bench script's --quick mode on the
# release build. A bench fails this stage only through its correctness checks (a query short of
# hits, a record lost with at most k sites down, replicas not restored, a read unanswered, a
# series not ingested, a planted near-duplicate not ranked first, a program error), never through its timings: a shared 2-core CI machine
# proves nothing about speed. The tables and goal lines stay in the log, where a regression shows.
# Usage: scripts/bench-checks.sh [build dir, default build]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
run() {
  local t0=$(date +%s)
  echo "bench-checks: $*"
  "$@"
  echo "bench-checks: $1 $2 passed its checks in $(( $(date +%s) - t0 )) s"
}
run bash bench/crypto_bench.sh "$build" --quick
run bash bench/storage_bench.sh "$build" --quick
run bash bench/http_bench.sh "$build" --quick
# overlay_bench runs dht_bench (its baseline) too.
run bash bench/overlay_bench.sh "$build" --quick
run bash bench/sim_bench.sh "$build" --quick
run bash bench/stage1_bench.sh "$build" --quick
# ingest_bench needs a private network namespace (root), as the PACS suites do.
if [ "$(id -u)" = 0 ]; then
  run bash bench/ingest_bench.sh --quick "$build"
  # dicomweb_bench: one dm2d and Orthanc's DICOMweb plugin (its own namespace) on 200 studies, a
  # federated search across 4 sites (wrk).
  run bash bench/dicomweb_bench.sh --quick "$build"
  run bash bench/similarity_bench.sh --quick "$build"
else
  echo "bench-checks: ingest_bench, dicomweb_bench and similarity_bench skipped (need root for their network namespaces)"
fi
