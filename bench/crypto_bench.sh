#!/usr/bin/env bash
# AES-256-GCM: dm2::crypto seal/open (one-shot and chunked stream) of 1-64 MiB against
# `openssl speed -evp aes-256-gcm` measured in the same run, as a table with the ratio.
# Goals (one YES/NO line each): the stream as the node runs it (fed in 1 MiB blocks, as
# stream_seal_file and retrieval do) and the one-shot AEAD into a reused buffer, each >= 80% of
# openssl at every size. The one-shot forms into a fresh output are shown with their ratio but
# are no goal: above glibc's mmap threshold (32 MiB) every call maps and faults in fresh pages,
# which costs more than the AES work on this VM (docs/crypto.md); the node uses them for objects
# of a few KiB only. Each operation runs 3 times and its best run counts, as the better of two
# openssl runs does. Both sides report CPU time, so a busy machine skews both alike.
# Usage: bench/crypto_bench.sh [build dir with crypto_bench built, default build-crypto] [--quick]
#   --quick: 1 and 64 MiB only, shorter runs; prints the same goal lines.
. "$(dirname "$0")/common.sh"
bench_options "$@"
bench_program crypto_bench "${args[0]:-}"
bench_tmp

seconds=2 min_time=0.5 filter=.
if [ -n "$quick" ]; then seconds=1 min_time=0.1 filter='/(1048576|67108864)$'; fi

# OpenSSL's own figure on 1 MiB blocks (its largest sizes run at the same speed), before and
# after ours; the better of the two is the reference.
openssl_rate() {
  openssl speed -evp aes-256-gcm -bytes 1048576 -seconds "$seconds" -mr 2>/dev/null |
    awk -F: '/^\+F:/ {print $4}'
}
before="$(openssl_rate)"
"$bench" --benchmark_format=json --benchmark_min_time="$min_time" --benchmark_filter="$filter" \
  --benchmark_repetitions=3 \
  >"$tmp/bench.json" 2>/dev/null
after="$(openssl_rate)"

python3 - "$tmp/bench.json" "$before" "$after" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
ref = max(float(sys.argv[2]), float(sys.argv[3]))
mb = 1e6
print(f"openssl speed -evp aes-256-gcm (1 MiB blocks): {ref / mb:8.0f} MB/s "
      f"(runs: {float(sys.argv[2]) / mb:.0f}, {float(sys.argv[3]) / mb:.0f})")
print("load average:", open("/proc/loadavg").read().split()[0:3])
print(f"{'operation':<22}{'size':>8}{'MB/s':>10}{'vs openssl':>12}")
best = {}  # (operation, size) -> best rate of its repetitions
for b in data["benchmarks"]:
    if b.get("run_type") != "iteration":
        continue
    name, size = b["run_name"].split("/")
    key = (name.replace("_bench", ""), int(size))
    best[key] = max(best.get(key, 0.0), b["bytes_per_second"])
kinds = {  # operation suffix or prefix -> (kind, whether it has a goal)
    "into": ("one-shot AEAD into a reused buffer (aead_*_into)", True),
    "blocks": ("stream in 1 MiB blocks, as the node runs it", True),
    "aead": ("one-shot AEAD, fresh output (no goal)", False),
    "stream": ("stream one-shot, fresh output (no goal)", False),
}
def kind_of(op):
    for tag in ("into", "blocks"):
        if op.endswith(tag):
            return kinds[tag]
    return kinds["aead" if op.startswith("aead") else "stream"]
worst = {}
for (op, size), rate in best.items():
    ratio = rate / ref
    kind = kind_of(op)
    worst[kind] = min(worst.get(kind, ratio), ratio)
    print(f"{op:<22}{size >> 20:>5} MiB{rate / mb:>10.0f}{ratio * 100:>11.0f}%")
for (kind, goal), w in worst.items():
    if goal:
        print(f"goal ({kind} >= 80% of openssl at every size): worst {w * 100:.0f}%, "
              f"{'YES' if w >= 0.8 else 'NO'}")
    else:
        print(f"{kind}: worst {w * 100:.0f}% of openssl")
PY
