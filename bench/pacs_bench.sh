#!/bin/sh
# PACS benchmarks: parallel C-GET vs DCMTK getscu/movescu (200-slice 512^2 CT from a local
# Orthanc) and de-identification + AES-256-GCM vs gdcmanon. Medians of RUNS (default 3).
# Usage: bench/pacs_bench.sh [build-dir] [runs] [slices]
# Needs root (or CAP_SYS_ADMIN): pacs_bench moves itself into a private network namespace where
# only lo exists, because Orthanc cannot be told to listen on loopback only.
set -eu
build=${1:-build-bench}
runs=${2:-3}
slices=${3:-200}
src=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$src" -B "$build" -DDM2_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j2 --target pacs_bench >/dev/null
nproc_info="$(nproc) cores, $(uname -m)"
echo "# pacs_bench on $(date -u +%Y-%m-%dT%H:%MZ), $nproc_info"
"$build/bench/pacs_bench" "$runs" "$slices"
