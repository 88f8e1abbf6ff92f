#!/usr/bin/env bash
# dm2-sim's own speed (issue 13): CPU and wall time and simulated messages per CPU second for
# the shipped scenario internet-10000 (10,000 sites x 1 simulated hour, 10 records and 2 keys per
# site, k = 3, 2-of-3, 1 failure/site/h, 30 s repair; goal <= 60 s on one core) and 1,000 sites
# x 1 hour, with a baseline measured in the same run (1,000 sites x 2 simulated minutes) so the
# ratios hold on a busy machine. --quick: 1,000 sites x 10 and 10,000 sites x 15 simulated minutes,
# and the hour projected from the latter (dm2-sim reports the CPU of its first 5 simulated
# minutes, the initial pushes and every pair's first digest, and of its last 5: the hour is the
# first plus 55 minutes at the rate of minutes 11..15).
#
# Then the query fan-out comparison (issue 13, item 4): the shipped scenario tree-vs-all-1000 runs
# every query both ways (one-to-all and tree) at 100, 1,000 and 10,000 sites (--quick: 100 and
# 1,000 sites for a short while), and one row per size and fan-out gives querier load, messages,
# latency and completeness, with a goal line for the largest size; once more at 1,000 sites with
# the per-site processing model fitted in the calibration (a goal line of its own: does the tree
# still win there, overlay.tree_fanout_min_sites = 500?); the latency CDFs of both are drawn to
# <build>/sim_bench-fanout-<label>-query-cdf.png.
#
# Last, the calibration table (issue 13, item 5): the real overlay's measures (16 dm2d processes,
# mutual TLS on loopback: <build>/overlay_bench-samples.csv, left by bench/overlay_bench.sh)
# beside dm2-sim's on the same scenario (calibration-16.toml) with its latency model fitted to
# the round trips the real harness measured and its per-site processing model fitted to the
# nodes' share of the real replica and fan-out latencies (bench/fit_latency.py). --calibrate runs both sides
# and only them: the real harness first (overlay_bench, 100 records per site; with --quick its
# quick mode), then the fit and dm2-sim. Without --calibrate the table uses the samples
# overlay_bench.sh left (scripts/bench-checks.sh runs it just before), or says none are there.
# Usage: bench/sim_bench.sh [build dir with dm2-sim built, default build] [--quick] [--calibrate]
. "$(dirname "$0")/common.sh"
build="$root/build"
quick=0
calibrate=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --calibrate) calibrate=1 ;;
    *) build="$a" ;;
  esac
done
sim="$build/simulations/dm2-sim"
[ -x "$sim" ] || { echo "sim_bench.sh: $sim not built (build target dm2-sim)" >&2; exit 2; }
bench_tmp

# calibration_table: fits the latency model to the real samples' round trips, runs dm2-sim on
# calibration-16.toml with it, the real run's records per site and its measured failure
# detection (until one survivor noticed a death: the delay; until every survivor counted only
# survivors: the delay plus the spread), prints the table. The fitted matrix stays in
# <build>/calibration-fitted.csv (simulations/scenarios/calibration-16.csv is one of them).
calibration_table() {
  local real="$build/overlay_bench-samples.csv"
  local rtt="$build/overlay_bench-samples-rtt.csv"
  echo
  if [ ! -s "$real" ] || [ ! -s "$rtt" ]; then
    echo "calibration: no real samples in $build (run bench/overlay_bench.sh or bench/sim_bench.sh --calibrate)"
    return 0
  fi
  local jitter records first detected message store query hit verify
  jitter=$(/usr/bin/python3 "$root/bench/fit_latency.py" "$rtt" "$build/calibration-fitted.csv") || exit 1
  # The per-site processing model (docs/simulator.md, "Processing"), fitted to the same run.
  read -r message store query hit verify < <(/usr/bin/python3 "$root/bench/fit_latency.py" --processing "$real" "$rtt") ||
    { echo "calibration: cannot fit the processing model to $real (run bench/overlay_bench.sh again)"; return 0; }
  records=$(awk -F, '$1 == "records_per_site" { print $2 }' "$real")
  first=$(awk -F, '$1 == "first_detected" { print $2 / 1000 }' "$real")
  detected=$(awk -F, '$1 == "detected" { print $2 / 1000 }' "$real")
  # Seeds 1..5 (--quick: 1..3): other sets of killed sites (the real run kills one).
  local seed spread seeds=5
  [ "$quick" = 1 ] && seeds=3
  spread=$(awk -v a="${first:-3}" -v b="${detected:-3}" 'BEGIN { print b - a }')
  for seed in $(seq 1 "$seeds"); do
    "$sim" --scenario "$root/simulations/scenarios/calibration-16.toml" --latency-matrix "$build/calibration-fitted.csv" \
      --jitter "$jitter" --records-per-site "${records:-100}" --detection-delay "${first:-3}" --detection-spread "$spread" \
      --message-us "$message" --store-us "$store" --query-us "$query" --hit-us "$hit" --verify-us "$verify" \
      --seed "$seed" --csv "$tmp/calibration-series.csv" --calibration "$tmp/calibration-$seed.csv" >"$tmp/calibration.err" 2>&1 ||
      { echo "sim_bench.sh: dm2-sim (calibration) failed:" >&2; cat "$tmp/calibration.err" >&2; exit 1; }
  done
  /usr/bin/python3 "$root/bench/calibration_table.py" "$real" "$jitter" "$rtt" "$tmp"/calibration-[1-9].csv || exit 1
  echo "(real samples from $(date -r "$real" -u '+%Y-%m-%d %H:%M UTC'), load average now $(cut -d' ' -f1-3 /proc/loadavg))"
}

if [ "$calibrate" = 1 ]; then
  for program in bench/overlay_bench node/dm2d node/dm2; do
    [ -x "$build/$program" ] || { echo "sim_bench.sh: $build/$program not built (scripts/build.sh release)" >&2; exit 2; }
  done
  echo "sim_bench.sh: the real side, 16 dm2d processes over mutual TLS (load average $(cut -d' ' -f1-3 /proc/loadavg))..." >&2
  status=0
  DM2_BINARY_DIR="$build" "$build/bench/overlay_bench" "$tmp/nodes" "$build/overlay_bench-samples.csv" 100 \
    $([ "$quick" = 1 ] && echo --quick) || status=$?
  calibration_table
  exit $status
fi
scenario="$root/simulations/scenarios/internet-10000.toml"

# run LABEL ARGS...: prints "label|cpu_s|wall_s|messages|msgs_per_cpu_s|first_5_min_cpu_s"
run() {
  local label="$1"; shift
  local out="$tmp/$label"
  /usr/bin/time -f "%U %S %e" -o "$out.time" "$sim" --scenario "$scenario" "$@" --csv "$out.csv" >"$out.err" 2>&1 ||
    { echo "sim_bench.sh: $label failed:" >&2; cat "$out.err" >&2; exit 1; }
  local user sys wall msgs
  read -r user sys wall < "$out.time"
  msgs=$(tail -1 "$out.csv" | cut -d, -f6)
  first=$(sed -n 's/^dm2-sim: cpu .* s, first 300 simulated s \([0-9.]*\) s.*$/\1/p' "$out.err")
  last=$(sed -n 's/^dm2-sim: cpu .*, last 300 simulated s \([0-9.]*\) s$/\1/p' "$out.err")
  awk -v l="$label" -v u="$user" -v s="$sys" -v w="$wall" -v m="$msgs" -v f="${first:--1}" -v t="${last:--1}" \
    'BEGIN { c = u + s; printf "%s|%.1f|%.1f|%d|%.0f|%s|%s\n", l, c, w, m, m / (c > 0 ? c : 1), f, t }'
}

rows=()
rows+=("$(run baseline --sites 1000 --duration 120)")
if [ "$quick" = 1 ]; then
  rows+=("$(run 1000x600s --sites 1000 --duration 600)")
  rows+=("$(run 10000x900s --duration 900)")
else
  rows+=("$(run 1000x1h --sites 1000)")
  rows+=("$(run 10000x1h)")
fi
base_cpu=$(echo "${rows[0]}" | cut -d'|' -f2)
echo "| run | CPU s | wall s | messages | messages / CPU s | CPU vs baseline | goal |"
echo "|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r label cpu wall msgs rate first last <<< "$r"
  goal=""
  [ "$label" = 10000x1h ] && goal="≤ 60 s on one core"
  awk -v l="$label" -v c="$cpu" -v w="$wall" -v m="$msgs" -v r="$rate" -v b="$base_cpu" -v g="$goal" \
    'BEGIN { printf "| %s | %.1f | %.1f | %d | %.0f | %.1fx | %s |\n", l, c, w, m, r, c / (b > 0 ? b : 1), g }'
done
# The goal line: CPU seconds stand for "one core" (wall time on a shared machine counts the others),
# with the wall time beside them and the machine's load average.
load=$(cut -d' ' -f1 /proc/loadavg)
for r in "${rows[@]}"; do
  IFS='|' read -r label cpu wall msgs rate first last <<< "$r"
  case "$label" in
    10000x1h)
      awk -v c="$cpu" -v w="$wall" -v l="$load" 'BEGIN { printf "goal: 10,000 sites x 1 simulated hour in <= 60 s on one core: %s (%.1f s CPU, %.1f s wall, load average %s)\n", (c <= 60 ? "YES" : "NO"), c, w, l }' ;;
    10000x900s)
      # Projected: the first 5 minutes as measured, the other 55 at the rate of minutes 11..15,
      # once the sites down reached their steady share (minutes 6..10 ran a third below the
      # hour's rate: projected 40-48 s for hours that took 55-73 s).
      awk -v c="$cpu" -v w="$wall" -v f="$first" -v t="$last" -v l="$load" 'BEGIN { h = f + t * 3300 / 300; printf "goal: 10,000 sites x 1 simulated hour in <= 60 s on one core: %s (projected %.0f s CPU from 10,000 x 900 s: %.1f s CPU, %.1f s the first 5 minutes, %.1f s the last 5, %.1f s wall, load average %s; run without --quick to measure it)\n", (h <= 60 ? "YES" : "NO"), h, c, f, t, w, l }' ;;
  esac
done

# ---- Query fan-out: one-to-all against tree, the same queries over the same churn.
# compare LABEL ARGS...: per fan-out "label|fanout|queries|out|in|messages|p50|p99|completeness|incomplete|deadline|uncovered"
compare() {
  local label="$1"; shift
  local out="$tmp/fanout-$label"
  # The latency CDFs of both go to the build dir (exit 3: no matplotlib, the numbers still count).
  local rc=0
  "$sim" --scenario "$root/simulations/scenarios/tree-vs-all-1000.toml" "$@" --csv "$out.csv" \
    --plot "$build/sim_bench-fanout-$label.png" >"$out.err" 2>&1 || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || { echo "sim_bench.sh: fan-out $label failed:" >&2; cat "$out.err" >&2; exit 1; }
  for f in all tree; do
    # Columns of <stem>-queries.csv: 3 latency_ms, 4 expected, 5 returned, 10 deadline_passed,
    # 11 fanout, 12 querier_out, 13 querier_in, 14 messages, 15 uncovered.
    awk -F, -v f="$f" -v l="$label" 'NR > 1 && $11 == f { print $3 }' "$out-queries.csv" | sort -n > "$out.$f.lat"
    awk -F, -v f="$f" -v l="$label" -v lat="$out.$f.lat" '
      NR > 1 && $11 == f { n++; o += $12; i += $13; m += $14; e += $4; r += $5; inc += ($5 < $4); d += $10; u += ($15 > 0) }
      END {
        k = 0; while ((getline x < lat) > 0) v[k++] = x
        p50 = k ? v[int(0.50 * (k - 1) + 0.5)] : 0; p99 = k ? v[int(0.99 * (k - 1) + 0.5)] : 0
        d1 = n ? n : 1
        printf "%s|%s|%d|%.1f|%.1f|%.1f|%d|%d|%.5f|%d|%d|%d\n", l, f, n, o / d1, i / d1, m / d1, p50, p99, (e ? r / e : 1), inc, d, u
      }' "$out-queries.csv"
  done
}

frows=()
add_compare() {
  local rows
  rows=$(compare "$@") || exit 1
  while read -r r; do frows+=("$r"); done <<< "$rows"
}
# The per-site processing model fitted in the calibration (the [processing] table of
# calibration-16.toml) as flags: each site serves its messages one at a time, so one-to-all's
# querier queues its N - 1 answers and every tree level adds a site's handling of the query.
processing_flags() {
  awk -F' *= *' '/^\[/ { t = $0 } t == "[processing]" && NF == 2 { k = $1; gsub("_", "-", k); printf "--%s %s ", k, $2 }' \
    "$root/simulations/scenarios/calibration-16.toml"
}
# shellcheck disable=SC2046  # the flags are words
if [ "$quick" = 1 ]; then
  add_compare 100 --sites 100 --duration 60
  add_compare 1000-processing --sites 1000 --duration 30 $(processing_flags)
  add_compare 1000 --sites 1000 --duration 30
else
  add_compare 100 --sites 100
  add_compare 1000 --sites 1000
  add_compare 1000-processing --sites 1000 $(processing_flags)
  add_compare 10000 --sites 10000 --duration 60 --query-rate 0.2
fi
echo
echo "| sites | fan-out | queries | querier out / query | querier in / query | messages / query | p50 ms | p99 ms | completeness | incomplete | reached deadline | with uncovered prefixes |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${frows[@]}"; do
  IFS='|' read -r l f n o i m p50 p99 c inc d u <<< "$r"
  name=one-to-all; [ "$f" = tree ] && name=tree
  echo "| $l | $name | $n | $o | $i | $m | $p50 | $p99 | $c | $inc | $d | $u |"
done
# goal LABEL: at that size, the querier handles at most 5 % of one-to-all's messages, with a p99
# no worse and completeness no lower (within 0.001).
goal() {
  local all_row tree_row
  all_row=$(printf '%s\n' "${frows[@]}" | awk -F'|' -v l="$1" '$1 == l && $2 == "all"')
  tree_row=$(printf '%s\n' "${frows[@]}" | awk -F'|' -v l="$1" '$1 == l && $2 == "tree"')
  awk -v a="$all_row" -v t="$tree_row" -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    split(a, x, "|"); split(t, y, "|")
    load_a = x[4] + x[5]; load_t = y[4] + y[5]
    ok = load_t <= 0.05 * load_a && y[8] <= x[8] && y[9] >= x[9] - 0.001
    printf "goal: tree fan-out at %s sites: querier messages <= 5%% of one-to-all (%.1f vs %.1f), p99 no worse (%d vs %d ms), completeness no lower (%.5f vs %.5f): %s (load average %s)\n",
      x[1], load_t, load_a, y[8], x[8], y[9], x[9], (ok ? "YES" : "NO"), l
  }'
}
goal 1000-processing  # the crossover below 1,000 sites (overlay.tree_fanout_min_sites) with the fitted costs
goal "$(echo "${frows[-1]}" | cut -d'|' -f1)"  # the largest size
calibration_table
exit 0
