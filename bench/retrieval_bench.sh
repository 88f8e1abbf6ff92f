#!/usr/bin/env bash
# Retrieval: a de-identified series through dm2 (`dm2 series get`, one file per instance, from
# GET /v1/series/{lfn} at the owning site: key rebuilt from t shares over mutual TLS, series
# streamed from the object store file by file) against getscu (TCP_NODELAY=1, one file per
# instance) from the owner's PACS directly, same run; goal dm2 >= 2x faster. Key
# reconstruction (t share requests over mutual TLS, in parallel) p50/p99; goal p99 < 50 ms. A cache
# miss (the series evicted, re-assembled from the PACS, then streamed); goal <= 1.3x getscu.
# Noise: getscu, the miss and the hit are measured in 5 interleaved rounds (--quick: 3) while the
# sites run, getscu next to each miss; the goals compare the medians (each round is printed).
# Needs root (Orthanc cannot listen on loopback only: the bench runs in a private network namespace).
# Usage: bench/retrieval_bench.sh [--quick] [build dir, default build] [slices] [size]
#   --quick: 40 slices of 256x256 (5 MB); default 200 slices of 512x512 (105 MB)
. "$(dirname "$0")/common.sh"
bench_dm2_program retrieval_bench "$@"
