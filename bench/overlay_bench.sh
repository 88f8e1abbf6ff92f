#!/usr/bin/env bash
# The overlay as deployed (16 dm2d processes, mutual TLS between nodes, RocksDB) against the
# named baseline, the same replication code over dht_bench's in-process transport, measured in
# the same run: time until a new record has k replicas, query fan-out latency, and the time to
# restore k replicas after killing a third of the nodes. Prints a Markdown table with p50, p99,
# the goals (replicas p99 < 1 s, fan-out p99 < 250 ms) and the ratio to the baseline, and plots
# the distributions to <build dir>/overlay_bench.png. Its samples and node-to-node round trips
# stay in <build dir>/overlay_bench-samples.csv and -samples-rtt.csv: bench/sim_bench.sh compares
# dm2-sim with them (the calibration table).
# Usage: bench/overlay_bench.sh [build dir, default build] [records per site, default 1000] [--quick]
# --quick: 100 records per site and fewer samples. Exits 1 when a correctness check of either
# program fails (a query incomplete, a record lost with at most k sites down, replicas not
# restored), after printing the table; timings never fail it.
. "$(dirname "$0")/common.sh"
quick=
args=()
for a in "$@"; do
  if [ "$a" = --quick ]; then quick=1; else args+=("$a"); fi
done
build="$(cd "${args[0]:-$root/build}" && pwd)"
records="${args[1]:-1000}"
for program in bench/overlay_bench bench/dht_bench node/dm2d node/dm2; do
  [ -x "$build/$program" ] || { echo "overlay_bench.sh: $build/$program not built (scripts/build.sh release)" >&2; exit 2; }
done

bench_tmp
work="$tmp"
export DM2_BINARY_DIR="$build"

echo "overlay_bench.sh: baseline (dht_bench, in-process transport)..." >&2
failed=0
"$build/bench/dht_bench" ${quick:+--quick} > "$work/baseline.md" || { failed=1; echo "overlay_bench.sh: dht_bench failed a correctness check:" >&2; cat "$work/baseline.md" >&2; }
echo "overlay_bench.sh: 16 dm2d processes over mutual TLS..." >&2
samples="$build/overlay_bench-samples.csv"
"$build/bench/overlay_bench" "$work/nodes" "$samples" "$records" ${quick:+--quick} || failed=1

/usr/bin/python3 - "$work/baseline.md" "$samples" "$build/overlay_bench.png" <<'EOF'
import csv, re, sys
baseline_md, samples_csv, png = sys.argv[1:4]

def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")

samples = {}
for row in csv.DictReader(open(samples_csv)):
    samples.setdefault(row["measure"], []).append(float(row["value"]))

# dht_bench's table rows: | measure | p50 | p99 | goal | met |
base = {}
for line in open(baseline_md):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    numbers = [float(m) for m in re.findall(r"([0-9.]+) ms", " ".join(cells[1:3]))] if len(cells) > 2 else []
    if line.startswith("| new record") and len(numbers) >= 2: base["replicas"] = numbers[:2]
    if line.startswith("| query fan-out") and len(numbers) >= 2: base["fanout"] = numbers[:2]
    if line.startswith("| restore") and numbers: base["restore"] = [numbers[0], numbers[0]]

    if line.startswith("| query right after killing") and numbers: base["hedged"] = [numbers[0], numbers[0]]

goals = {"replicas": 1000.0, "fanout": 250.0, "hedged": 1500.0, "restore": None}
names = {"replicas": "new record -> k replicas", "fanout": "query fan-out, 16 sites",
         "hedged": "query right after killing 5 of 16 (hedged)", "restore": "restore k replicas after killing 5 of 16"}
print("| measure (16 dm2d processes, mutual TLS) | samples | p50 | p99 | goal | met | baseline p99 (in-process) | ratio |")
print("|---|---|---|---|---|---|---|---|")
for key in ("replicas", "fanout", "hedged", "restore"):
    values = samples.get(key, [])
    p50, p99 = percentile(values, 50), percentile(values, 99)
    goal = goals[key]
    met = "-" if goal is None else ("yes" if values and p99 < goal else "no")
    b = base.get(key)
    ratio = f"{p99 / b[1]:.1f}x" if b and b[1] > 0 and values else "-"
    print(f"| {names[key]} | {len(values)} | {p50:.1f} ms | {p99:.1f} ms | "
          f"{'p99 < %d ms' % goal if goal else '-'} | {met} | {f'{b[1]:.1f} ms' if b else '-'} | {ratio} |")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, goal in ((axes[0], "replicas", 1000), (axes[1], "fanout", 250)):
        values = sorted(samples.get(key, []))
        if values:
            ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], color="tab:blue", label="16 dm2d, mutual TLS")
        if key in base:
            ax.axvline(base[key][1], color="tab:gray", linestyle=":", label="in-process p99")
        ax.axvline(goal, color="tab:red", linestyle="--", label=f"goal p99 < {goal} ms")
        ax.set_title(names[key]); ax.set_xlabel("ms"); ax.set_ylabel("fraction of samples"); ax.legend()
    fig.tight_layout(); fig.savefig(png, dpi=100)
    print(f"\nplot: {png}")
except ImportError:
    print("\n(no plot: python3-matplotlib is not installed)")
EOF
exit $failed
