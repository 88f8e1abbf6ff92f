#!/usr/bin/env python3
"""Fits dm2-sim's latency model to round trips measured on the real overlay (issue 13, item 5).

Input: overlay_bench's <samples>-rtt.csv (from,to,ms: node-to-node replication messages over
kept-alive mutual TLS, sites numbered 1..N). Output: a sites x sites round-trip matrix for
network.latency_matrix (row i = site i-1: dm2-sim numbers its sites from 0) and, on stdout, the
jitter for network.jitter_ms. The model is one-way = base/2 + uniform(0, jitter) per message,
so a round trip is base + two draws: base is each pair's 10th percentile (what a message costs
when nothing queues), jitter the mean of every sample's excess over its pair's base (the two
draws' mean, so the simulated mean round trip is the measured one).
Usage: fit_latency.py <rtt.csv> <matrix.csv>
"""
import csv
import sys


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main(rtt_csv, matrix_csv):
    pairs = {}
    for row in csv.DictReader(open(rtt_csv)):
        pairs.setdefault((int(row["from"]), int(row["to"])), []).append(float(row["ms"]))
    if not pairs:
        sys.exit(f"fit_latency.py: {rtt_csv} holds no round trip")
    n = max(max(a, b) for a, b in pairs)
    base = {pair: percentile(v, 10) for pair, v in pairs.items()}
    excess = [x - base[pair] for pair, v in pairs.items() for x in v]
    jitter = sum(excess) / len(excess)
    samples = sum(len(v) for v in pairs.values())
    with open(matrix_csv, "w") as out:
        out.write(f"# fitted by bench/fit_latency.py from {samples} node-to-node round trips (ms) over\n"
                  f"# kept-alive mutual TLS between {n} dm2d processes; each pair's 10th percentile,\n"
                  f"# symmetric (the mean of both directions); jitter_ms = {jitter:.2f}\n")
        for i in range(1, n + 1):
            row = []
            for j in range(1, n + 1):
                both = [base[p] for p in ((i, j), (j, i)) if p in base]
                row.append(f"{sum(both) / len(both):.3f}" if i != j and both else "0")
            out.write(",".join(row) + "\n")
    print(f"{jitter:.3f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
