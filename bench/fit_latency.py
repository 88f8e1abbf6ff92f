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

--processing: fits dm2-sim's per-site processing model (network processing.*, docs/simulator.md,
"Processing") to overlay_bench's samples and prints "message_us store_us query_us hit_us
verify_us". Each site serves its messages one at a time; the nodes' share of the real latencies
is what is left once the bench's own HTTPS calls are taken out (p50s):
  message_us  half the node-to-node round trip (the receiver's TLS record, HTTP, decode);
  store_us    a new record reaches its k holders: one push each, in parallel, so the nodes' share
              of it (nodes_share below) = message_us + store_us + verify_us (the holder checks
              the owner's signature and commits);
  query_us    a query no record matches: every site answers an empty answer in parallel, the
              querier handles the 15 answers one by one: its nodes' share = message_us + query_us
              + 15 message_us;
  hit_us      the same with every record matching (20 hits per answer, top_k): the difference,
              per hit received;
  verify_us   one Ed25519 verification, measured in overlay_bench's process (tree hits only).
Usage: fit_latency.py --processing <samples.csv> <rtt.csv>
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


def nodes_share(samples_csv):
    """The nodes' part of each replica and fan-out latency overlay_bench measured, in ms: its
    end-to-end time less the bench's own HTTPS calls around it (its rows come in order: write,
    replicas, polls; query_post, query_get, fanout or fanout_empty). A replica landed on average
    half a poll before the poll that found it answered; a query ended half a poll cycle (the GET
    and the 2 ms pause) before the GET that found it done. Also every other measure, as read."""
    out, polls, last = {}, None, {}
    for row in csv.reader(open(samples_csv)):
        if not row or row[0] == "measure":
            continue
        name, value = row[0], float(row[1])
        out.setdefault(name, []).append(value)
        if name == "replicas" and "write" in last:
            polls = [value - last.pop("write"), []]
        elif name == "poll" and polls:
            polls[1].append(value)
            if len(polls[1]) == 1:  # the record's share is set with its first poll, refined after
                out.setdefault("nodes_replicas", []).append(0.0)
            out["nodes_replicas"][-1] = polls[0] - sum(polls[1]) / len(polls[1]) / 2
        elif name in ("fanout", "fanout_empty") and "query_post" in last and "query_get" in last:
            share = value - last.pop("query_post") - (last.pop("query_get") + 2) / 2
            out.setdefault("nodes_" + name, []).append(share)
        if name in ("write", "query_post", "query_get"):
            last[name] = value
            if name == "write":
                polls = None
    return out


def fit_processing(samples_csv, rtt_csv, sites=16, hits_per_answer=20):
    """(message_us, store_us, query_us, hit_us, verify_us), whole microseconds."""
    measures = nodes_share(samples_csv)
    needed = ("nodes_replicas", "nodes_fanout", "nodes_fanout_empty", "verify")
    missing = [m for m in needed if not measures.get(m)]
    if missing:
        sys.exit(f"fit_latency.py: {samples_csv} lacks {', '.join(missing)} (an older overlay_bench)")
    p50 = {m: percentile(v, 50) for m, v in measures.items()}
    rtts = [float(r["ms"]) for r in csv.DictReader(open(rtt_csv))]
    message = percentile(rtts, 50) / 2
    answers = sites - 1
    store = max(0.0, p50["nodes_replicas"] - message - p50["verify"])
    query = max(0.0, p50["nodes_fanout_empty"] - (1 + answers) * message)
    hit = max(0.0, (p50["nodes_fanout"] - p50["nodes_fanout_empty"]) / (answers * hits_per_answer))
    return tuple(round(ms * 1000) for ms in (message, store, query, hit, p50["verify"]))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--processing":
        print(" ".join(str(us) for us in fit_processing(*sys.argv[2:])))
    elif len(sys.argv) == 3:
        main(*sys.argv[1:])
    else:
        sys.exit(__doc__)
