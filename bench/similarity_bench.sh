#!/usr/bin/env bash
# Similarity (issue 11 "Benchmark"): a query by image across real dm2d processes with real PACS,
# stage 1 everywhere and stage 2 (mutual information) at the candidates' owners on real sealed
# volumes, p50/p95/p99 end to end over one query by each real series with the scores computed and
# over repeated ones with them cached, against getscu + a numpy script scoring the same
# candidates in the same run (bench/similarity_baseline.py); the ratio and the goal line (p99 <
# 1 s). Exits 1 when the planted near-duplicate does not rank first (dm2 or the baseline), a
# stage-2 candidate is not a real series the owner scored, an owner fails or a query passes its
# deadline. Needs root (dcmqrscp in a private network namespace) and /usr/bin/python3 with numpy
# and pydicom (scripts/install-deps.sh).
# Usage: bench/similarity_bench.sh [--quick] [build dir, default build] [sites=16] [series per site=16] [records per site=1000] [cached queries=64]
#   --quick: 3 sites x 8 series, 40 records a site, 12 cached queries, the baseline once (CI: scripts/bench-checks.sh).
# Stage 1 alone at 100,000 and 1,000,000 records: bench/stage1_bench.sh.
. "$(dirname "$0")/common.sh"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_dm2_program similarity_bench "$@"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
