#!/usr/bin/env bash
# The tree fan-out against one-to-all on real processes (issue 13, item 4): for each size, N dm2d
# processes on loopback with mutual TLS, 3 records each, three sites querying down the tree
# (overlay.tree_fanout_min_sites = 2) and three one-to-all, alternating, on the same consortium
# in the same run; then again with 3 sites SIGKILLed mid-query while still listed live
# (bench/fanout_bench.cpp). Then dm2-sim on the same N (calibration-16.toml: the processing model
# fitted to 16 real processes; one-to-all and tree runs with one seed, 3 sites dying at 60 s and
# listed live after). Prints Markdown tables: latency p50 / p99, completeness, messages and bytes
# of the querier and in total, the ratio tree / one-to-all, real beside simulated, each dm2d's
# resident memory; a goal line per size and phase (does the tree win there?); plots the latency
# CDFs to <build>/fanout_bench.png. Samples stay in <build>/fanout_bench-<N>.csv and -rss.csv,
# the six queriers' logs in <build>/fanout_bench-<N>-queriers/.
# Usage: bench/fanout_bench.sh [build dir, default build] [sites ..., default 64 128] [--quick]
# --quick: 16 sites, 5 queries per fan-out and phase (correctness: every record back each time).
# Exits 1 when a query of either fan-out missed a record or a run failed; timings never fail it.
. "$(dirname "$0")/common.sh"
bench_options "$@"
build="$root/build"
sizes=()
for a in "${args[@]}"; do
  if [[ "$a" =~ ^[0-9]+$ ]]; then sizes+=("$a"); else build="$(cd "$a" && pwd)"; fi
done
[ ${#sizes[@]} -gt 0 ] || { if [ -n "$quick" ]; then sizes=(16); else sizes=(64 128); fi; }
for program in bench/fanout_bench node/dm2d node/dm2 simulations/dm2-sim; do
  [ -x "$build/$program" ] || { echo "fanout_bench.sh: $build/$program not built (scripts/build.sh release)" >&2; exit 2; }
done
bench_tmp
export DM2_BINARY_DIR="$build"
echo "# fanout_bench on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GB"

failed=0
loads=()
specs=()
burst_at=60
echo 0.1 > "$tmp/loopback.csv"  # one region: loopback round trips round to 0 ms one way anyway
for n in "${sizes[@]}"; do
  samples="$build/fanout_bench-$n.csv"
  before=$(cut -d' ' -f1 /proc/loadavg)
  echo "fanout_bench.sh: $n dm2d processes (load average $before, $(awk '/MemAvailable/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo) GB available)..." >&2
  "$build/bench/fanout_bench" "$tmp/nodes-$n" "$samples" "$n" ${quick:+--quick} || failed=1
  loads+=("$n sites: $before → $(cut -d' ' -f1 /proc/loadavg)")
  # The queriers' logs (info: event=query_tree, event=tree_second_pass) stay beside the samples.
  rm -rf "$build/fanout_bench-$n-queriers" && mkdir -p "$build/fanout_bench-$n-queriers"
  cp "$tmp/nodes-$n"/site-[1-6]-*.err "$build/fanout_bench-$n-queriers/" 2>/dev/null || true
  rm -rf "$tmp/nodes-$n"
  for f in all tree; do
    "$build/simulations/dm2-sim" --scenario "$root/simulations/scenarios/calibration-16.toml" --sites "$n" \
      --records-per-site 3 --keys-per-site 0 --regions 1 --latency-matrix "$tmp/loopback.csv" --write-rate 0 \
      --query-rate 0.5 --query-timeout 10 --query-fanout "$f" --burst 3 --burst-at "$burst_at" \
      --detection-delay 60 --detection-spread 0 --duration $((burst_at + 40)) --csv "$tmp/sim-$n-$f.csv" \
      >"$tmp/sim-$n-$f.err" 2>&1 || { echo "fanout_bench.sh: dm2-sim ($n sites, $f) failed:" >&2; cat "$tmp/sim-$n-$f.err" >&2; exit 1; }
  done
  specs+=("$n:$samples:${samples%.csv}-rss.csv:$tmp/sim-$n-all-queries.csv:$tmp/sim-$n-tree-queries.csv:$burst_at")
done
load_text=$(IFS=';'; echo "${loads[*]}")
/usr/bin/python3 -B "$root/bench/fanout_table.py" "$build/fanout_bench.png" "$load_text" "${specs[@]}" || exit 1
exit $failed
