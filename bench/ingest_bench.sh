#!/usr/bin/env bash
# Ingest throughput: series/s and MB/s from a local Orthanc to committed index records replicated
# on the other two sites of a 3-site dm2d consortium, per stage, against getscu (TCP_NODELAY=1) +
# gdcmanon -e + openssl enc (AES-256-CTR) on the same series in the same run; goal >= 3x end to
# end. Needs root (Orthanc cannot listen on loopback only: ingest_bench runs everything in a
# private network namespace).
# Usage: bench/ingest_bench.sh [--quick] [build dir, default build] [series] [slices] [size]
#   --quick: 4 series of 24 slices of 128x128 (default: 12 series of 48 slices of 256x256)
. "$(dirname "$0")/common.sh"
bench_dm2_program ingest_bench "$@"
