#!/usr/bin/env python3
"""The calibration table (issue 13, item 5): the same measures from the real overlay
(overlay_bench's samples: 16 dm2d processes, mutual TLS on loopback) and from dm2-sim
(--calibration, scenario calibration-16 with the fitted latency model), side by side, with
sim / real and whether they agree within 20 %. The real harness kills one set of 5 sites per
run; dm2-sim runs several seeds (other sets): a once-per-run measure shows the seeds' median and
their range. Replica and fan-out latency compare the nodes' share of the real ones (the
bench's own HTTPS calls taken out: fit_latency.nodes_share) with the simulator's, which runs
the processing model fitted from them (fit_latency.py --processing): the p50s agree by
construction when the model's structure holds, the p99s and the restore and repair measures do
not.
Usage: calibration_table.py <real samples.csv> <fitted jitter ms> <rtt.csv> <sim calibration.csv>...
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fit_latency import fit_processing, nodes_share  # noqa: E402


def read(path):
    out = {}
    for row in csv.reader(open(path)):
        if row and row[0] != "measure":
            out.setdefault(row[0], []).append(float(row[1]))
    return out


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else None


def main(real_csv, jitter, rtt_csv, *sim_csvs):
    real, sim = nodes_share(real_csv), {}
    for path in sim_csvs:
        run = read(path)
        if run.get("repair_records") and run.get("repair_messages"):
            run["messages_per_record"] = [run["repair_messages"][0] / max(run["repair_records"][0], 1)]
        for key, values in run.items():
            sim.setdefault(key, []).extend(values)
    if real.get("repair_records") and real.get("repair_messages"):
        real["messages_per_record"] = [real["repair_messages"][0] / max(real["repair_records"][0], 1)]
    rtts = [float(r["ms"]) for r in csv.DictReader(open(rtt_csv))]
    rows = [("replicas", 50, "new record -> k replicas, p50 (nodes' share)", "ms"),
            ("replicas", 99, "new record -> k replicas, p99 (nodes' share)", "ms"),
            ("fanout", 50, "query fan-out (one-to-all, 16 sites), p50 (nodes' share)", "ms"),
            ("fanout", 99, "query fan-out (one-to-all, 16 sites), p99 (nodes' share)", "ms"),
            ("restore", 50, "restore k replicas after killing 5 of 16", "ms"),
            ("repair_records", 50, "records short of a live holder at the kill", ""),
            ("repair_messages", 50, "replicator messages, kill -> restored", ""),
            ("repair_rounds", 50, "replicator rounds, kill -> restored", ""),
            ("messages_per_record", 50, "messages per record repaired", "")]
    print(f"latency model fitted from {len(rtts)} node-to-node round trips: p50 {percentile(rtts, 50):.2f} ms, "
          f"p99 {percentile(rtts, 99):.2f} ms; jitter {float(jitter):.2f} ms "
          f"(dm2-sim's clock has 1 ms steps)")
    costs = fit_processing(real_csv, rtt_csv)
    print("processing model fitted (us): message {} store {} query {} hit {} verify {}".format(*costs))
    print()
    print(f"| measure | real (16 dm2d, mutual TLS) | samples | dm2-sim (fitted, {len(sim_csvs)} seeds) | samples | sim / real | within 20 % |")
    print("|---|---|---|---|---|---|---|")
    agree = 0
    for key, p, name, unit in rows:
        real_key = "nodes_" + key if key in ("replicas", "fanout") else key
        r, s = percentile(real.get(real_key, []), p), percentile(sim.get(key, []), p)
        fmt = (lambda v: "-" if v is None else f"{v:.{2 if v < 10 else 0}f}{' ' + unit if unit else ''}")
        values = sim.get(key, [])
        shown = fmt(s)
        if key not in ("replicas", "fanout") and len(values) > 1:
            shown += f" ({fmt(min(values))} - {fmt(max(values))})"
        ratio = f"{s / r:.2f}" if r and s is not None else "-"
        ok = r is not None and s is not None and (abs(s - r) <= 0.2 * r if r else s == 0)
        agree += ok
        print(f"| {name} | {fmt(r)} | {len(real.get(real_key, []))} | {shown} | {len(values)} | {ratio} | "
              f"{'yes' if ok else 'no'} |")
    def p50(key):
        v = percentile(real.get(key, []), 50)
        return "-" if v is None else f"{v:.0f} ms"
    print(f"\nreal end to end (p50): new record -> k replicas {p50('replicas')}, fan-out {p50('fanout')}, "
          f"fan-out matching nothing {p50('fanout_empty')}; "
          f"the bench's own HTTPS calls inside those (p50): POST /v1/records {p50('write')}, "
          f"the GET /v1/records that found a replica {p50('poll')}, POST /v1/queries {p50('query_post')}, "
          f"the GET /v1/queries/{{id}} that found it done {p50('query_get')}; "
          f"failure detection (the sim's delay and delay + spread): first survivor {p50('first_detected')}, "
          f"every survivor {p50('detected')}")
    print(f"calibration: {agree} of {len(rows)} measures agree within 20 % (docs/simulator.md, \"Calibration\", "
          f"explains the others)")


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
