#!/usr/bin/env bash
# AES-256-GCM: dm2::crypto seal/open (one-shot and chunked stream) of 1-64 MiB against
# `openssl speed -evp aes-256-gcm` measured in the same run, as a table with the ratio.
# Goals: the one-shot AEAD, with a fresh or a reused output buffer, and the stream (one-shot into a
# fresh output, and fed in 1 MiB blocks as stream_seal_file does) each >= 80% of openssl at every
# size; one YES/NO line per kind. Both sides report CPU time, so a busy machine skews both alike.
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
worst = {}
for b in data["benchmarks"]:
    name, size = b["name"].split("/")
    op = name.replace("_bench", "")
    rate = b["bytes_per_second"]
    ratio = rate / ref
    if op.endswith("_into"):
        kind = "reused buffer (aead_*_into)"
    elif op.startswith("aead"):
        kind = "fresh buffer (aead_seal/open)"
    elif op.endswith("_blocks"):
        kind = "stream in 1 MiB blocks, as stream_seal_file"
    else:
        kind = "stream one-shot, fresh output (stream_seal/open)"
    worst[kind] = min(worst.get(kind, ratio), ratio)
    print(f"{op:<22}{int(size) >> 20:>5} MiB{rate / mb:>10.0f}{ratio * 100:>11.0f}%")
for kind, w in worst.items():
    print(f"goal ({kind} >= 80% of openssl at every size): worst {w * 100:.0f}%, "
          f"{'YES' if w >= 0.8 else 'NO'}")
PY
