#!/usr/bin/env python3
"""The tree fan-out against one-to-all, real (bench/fanout_bench: N dm2d processes) beside dm2-sim
on the same sizes with the calibrated processing model. Prints Markdown tables, the goal lines,
and plots the latency CDFs.

Usage: fanout_table.py PNG LOAD SIZE:REAL_CSV:RSS_CSV:SIM_ALL_QUERIES:SIM_TREE_QUERIES:BURST_AT_S ...
REAL_CSV: fanout_bench's rows; SIM_*_QUERIES: dm2-sim's <stem>-queries.csv with --query-fanout
all / tree; queries started before BURST_AT_S are the sim's healthy phase, later ones the killed
phase (3 sites dead but listed). LOAD: the load averages noted by bench/fanout_bench.sh.
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fit_latency import percentile  # noqa: E402

PHASES = ("healthy", "killed")


def real_rows(path):
    """(fanout, phase) -> list of rows (dicts of floats)."""
    out = {}
    for row in csv.DictReader(open(path)):
        out.setdefault((row["fanout"], row["phase"]), []).append(
            {k: float(v) for k, v in row.items() if k not in ("fanout", "phase")})
    return out


def sim_rows(path, burst_at):
    out = {}
    for row in csv.DictReader(open(path)):
        phase = "healthy" if float(row["start_s"]) < burst_at else "killed"
        out.setdefault(phase, []).append({k: float(row[k]) for k in (
            "latency_ms", "expected", "returned", "deadline_passed", "querier_out", "querier_in", "messages")})
    return out


def summary(rows, latency="latency_ms"):
    """p50, p99, completeness, incomplete queries, at the deadline."""
    lat = [r[latency] for r in rows]
    expected = sum(r["expected"] for r in rows)
    return {"n": len(rows), "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "complete": sum(r["returned"] for r in rows) / expected if expected else 1.0,
            "incomplete": sum(r["returned"] < r["expected"] for r in rows),
            "deadline": sum(r["deadline_passed"] > 0 for r in rows)}


def mean(rows, key):
    return sum(r[key] for r in rows) / len(rows) if rows else float("nan")


def ratio(t, a):
    return f"{t / a:.2f}" if a else "-"


def main(png, load, *sizes):
    runs = []
    for spec in sizes:
        size, real_csv, rss_csv, sim_all, sim_tree, burst_at = spec.split(":")
        runs.append((int(size), real_rows(real_csv), rss_csv,
                     {"all": sim_rows(sim_all, float(burst_at)), "tree": sim_rows(sim_tree, float(burst_at))}))

    print(f"\nReal: N dm2d processes on loopback, mutual TLS (load average {load}). Per query; "
          "querier = messages / kB it sent + received; total = sent by every surviving site.\n")
    print("| sites | phase | fan-out | queries | p50 ms | p99 ms | completeness | incomplete | at deadline | "
          "querier msgs out / in | querier kB out / in | total msgs | total kB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    verdicts = []
    for n, real, _, _ in runs:
        for phase in PHASES:
            got = {}
            for fanout in ("all", "tree"):
                rows = real.get((fanout, phase), [])
                if not rows:
                    continue
                s = summary(rows)
                got[fanout] = (s, rows)
                print(f"| {n} | {phase} | {'one-to-all' if fanout == 'all' else 'tree'} | {s['n']} | {s['p50']:.0f} | "
                      f"{s['p99']:.0f} | {s['complete']:.5f} | {s['incomplete']} | {s['deadline']} | "
                      f"{mean(rows, 'querier_sent'):.1f} / {mean(rows, 'querier_received'):.1f} | "
                      f"{mean(rows, 'querier_bytes_sent') / 1024:.1f} / {mean(rows, 'querier_bytes_received') / 1024:.1f} | "
                      f"{mean(rows, 'total_sent'):.0f} | {mean(rows, 'total_bytes_sent') / 1024:.0f} |")
            if len(got) == 2:
                (sa, ra), (st, rt) = got["all"], got["tree"]
                qa = mean(ra, "querier_sent") + mean(ra, "querier_received")
                qt = mean(rt, "querier_sent") + mean(rt, "querier_received")
                ba = mean(ra, "querier_bytes_sent") + mean(ra, "querier_bytes_received")
                bt = mean(rt, "querier_bytes_sent") + mean(rt, "querier_bytes_received")
                print(f"| {n} | {phase} | **tree / one-to-all** | | {ratio(st['p50'], sa['p50'])} | "
                      f"{ratio(st['p99'], sa['p99'])} | | | | {ratio(qt, qa)} | {ratio(bt, ba)} | "
                      f"{ratio(mean(rt, 'total_sent'), mean(ra, 'total_sent'))} | "
                      f"{ratio(mean(rt, 'total_bytes_sent'), mean(ra, 'total_bytes_sent'))} |")
                verdicts.append((n, phase, qt, qa, st, sa))

    print("\nReal beside dm2-sim (calibration-16.toml's processing model, the same N, records and "
          "query timeout; sim killed phase: 3 sites dead but listed from before the query):\n")
    print("| sites | phase | fan-out | real p50 / p99 ms | sim p50 / p99 ms | real / sim p50 | "
          "real querier msgs out / in | sim querier msgs out / in | real / sim messages |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, real, _, sim in runs:
        for phase in PHASES:
            for fanout in ("all", "tree"):
                rows, srows = real.get((fanout, phase), []), sim[fanout].get(phase, [])
                if not rows or not srows:
                    continue
                s, ss = summary(rows), summary(srows)
                print(f"| {n} | {phase} | {'one-to-all' if fanout == 'all' else 'tree'} | {s['p50']:.0f} / {s['p99']:.0f} | "
                      f"{ss['p50']:.0f} / {ss['p99']:.0f} | {ratio(s['p50'], ss['p50'])} | "
                      f"{mean(rows, 'querier_sent'):.1f} / {mean(rows, 'querier_received'):.1f} | "
                      f"{mean(srows, 'querier_out'):.1f} / {mean(srows, 'querier_in'):.1f} | "
                      f"{ratio(mean(rows, 'total_sent'), mean(srows, 'messages'))} |")

    print("\n| sites | dm2d resident memory, settled: mean / max MB | after the queries: mean / max MB |")
    print("|---|---|---|")
    for n, _, rss_csv, _ in runs:
        by = {}
        for row in csv.DictReader(open(rss_csv)):
            by.setdefault(row["when"], []).append(float(row["rss_kb"]) / 1024)
        cells = [f"{sum(v) / len(v):.0f} / {max(v):.0f}" if v else "-" for v in (by.get("settled", []), by.get("end", []))]
        print(f"| {n} | {cells[0]} | {cells[1]} |")

    # The goal of issue 13 item 4 at each size: would the tree win here (querier messages <= 10 %
    # of one-to-all's, p99 no worse, completeness no lower)? NO below the threshold is expected.
    print()
    for n, phase, qt, qa, st, sa in verdicts:
        ok = qt <= 0.1 * qa and st["p99"] <= sa["p99"] and st["complete"] >= sa["complete"] - 0.001
        print(f"goal: the tree wins at {n} real sites, {phase}: querier messages <= 10 % of one-to-all "
              f"({qt:.1f} vs {qa:.1f}), p99 no worse ({st['p99']:.0f} vs {sa['p99']:.0f} ms), completeness no lower "
              f"({st['complete']:.5f} vs {sa['complete']:.5f}): {'YES' if ok else 'NO'} (load average {load})")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no plot: python3-matplotlib is not installed)")
        return
    fig, axes = plt.subplots(1, len(PHASES), figsize=(12, 4.5))
    for ax, phase in zip(axes, PHASES):
        for n, real, _, sim in runs:
            for fanout, color in (("all", "tab:blue"), ("tree", "tab:orange")):
                for values, style, who in (([r["latency_ms"] for r in real.get((fanout, phase), [])], "-", "real"),
                                           ([r["latency_ms"] for r in sim[fanout].get(phase, [])], ":", "sim")):
                    values = sorted(values)
                    if values:
                        ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], style, color=color,
                                alpha=0.4 + 0.6 * n / max(r[0] for r in runs),
                                label=f"{n} sites, {'one-to-all' if fanout == 'all' else 'tree'}, {who}")
        ax.set_title(f"query latency, {phase}" + (" (3 killed mid-query)" if phase == "killed" else ""))
        ax.set_xlabel("ms")
        ax.set_ylabel("fraction of queries")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print(f"\nplot: {png}")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
