#!/usr/bin/env bash
# A local demo consortium of three sites on one machine, on the embedded default ports:
#   site-1  HTTPS 127.0.0.1:8443  DHT 127.0.0.1:6881
#   site-2  HTTPS 127.0.0.2:8443  DHT 127.0.0.2:6881
#   site-3  HTTPS 127.0.0.3:8443  DHT 127.0.0.3:6881
# First run: creates the consortium CA, issues the three site identities, signs roster v1 (all
# with the real `dm2 ca` / `dm2 roster` commands). Then starts the three dm2d in the background
# and stops them on Ctrl-C. Usage: scripts/demo-consortium.sh [DIR, default ./demo] (needs a build).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "${1:-demo}")"
dm2="$root/build/node/dm2"
dm2d="$root/build/node/dm2d"
sites=(1 2 3)

if [ ! -f "$dir/roster.json" ]; then
  echo "demo: creating the consortium in $dir"
  mkdir -p "$dir"
  "$dm2" ca init --dir "$dir/consortium" --name "Demo Consortium" > /dev/null
  for i in "${sites[@]}"; do
    "$dm2" ca issue-site "site-$i" --ca-dir "$dir/consortium" --out "$dir/site-$i/identity" \
      --ip "127.0.0.$i" --dns localhost > /dev/null
    "$dm2" roster add --roster "$dir/roster.json" --site-dir "$dir/site-$i/identity" \
      --https "127.0.0.$i:8443" --dht "127.0.0.$i:6881" > /dev/null
    cat > "$dir/site-$i.toml" <<TOML
[node]
data_dir = "$dir/site-$i"
site_name = "site-$i"
[https]
listen = "127.0.0.$i:8443"
[dht]
listen = "127.0.0.$i:6881"
[consortium]
roster = "$dir/roster.json"
public_key = "$(cat "$dir/consortium/consortium.pub")"
roster_refresh_s = 10
TOML
  done
  "$dm2" roster sign --roster "$dir/roster.json" --ca-dir "$dir/consortium" > /dev/null
fi

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT INT TERM
for i in "${sites[@]}"; do
  "$dm2d" --config "$dir/site-$i.toml" 2> "$dir/site-$i.log" &
  pids+=($!)
done
for i in "${sites[@]}"; do
  for _ in $(seq 100); do
    curl -sf --cacert "$dir/consortium/ca.crt" "https://127.0.0.$i:8443/health" > /dev/null && break
    sleep 0.1
  done
done

# First start only: each site ingests a few index records (heart MR and chest CT series with a
# 64-sample similarity signature each), and a query signature is left in $dir/query.sig.
if [ ! -f "$dir/records.seeded" ]; then
  /usr/bin/python3 - "$dir" <<'PY'
import json, math, os, random, struct, sys
out = sys.argv[1]
random.seed(7)
def signature(phase, noise):
    return [math.sin(i / 5 + phase) + random.gauss(0, noise) for i in range(64)]
with open(os.path.join(out, "query.sig"), "wb") as f:
    f.write(struct.pack("<64f", *signature(0.0, 0.0)))
with open(os.path.join(out, "records.jsonl"), "w") as f:
    for site in (1, 2, 3):
        for n in range(4):
            mr = n % 2 == 0
            body = {"lfn": os.urandom(16).hex(),
                    "attributes": {"modality": "MR" if mr else "CT", "body_part": "HEART" if mr else "CHEST",
                                   "study_date": "2026%02d%02d" % (site + 3, n + 10), "sex": "FM"[n % 2],
                                   "age_band": "%03d-%03d" % (40 + 10 * site, 49 + 10 * site)},
                    "signature_hex": struct.pack("<64f", *signature(0.3 * n + 0.1 * site, 0.2)).hex()}
            f.write("%d %s\n" % (site, json.dumps(body)))
PY
  while read -r site body; do
    curl -sf --cacert "$dir/consortium/ca.crt" --cert "$dir/site-$site/identity/site.crt" \
      --key "$dir/site-$site/identity/site.key" -H 'Content-Type: application/json' \
      -d "$body" "https://127.0.0.$site:8443/v1/records" > /dev/null
  done < "$dir/records.jsonl"
  touch "$dir/records.seeded"
  echo "demo: each site ingested 4 index records (2 heart MR, 2 chest CT)"
fi

cat <<TEXT

The demo consortium is running (logs: $dir/site-N.log). Try:
  curl --cacert $dir/consortium/ca.crt https://127.0.0.1:8443/health
  curl --cacert $dir/consortium/ca.crt https://127.0.0.1:8443/metrics
  $dm2 status --config $dir/site-1.toml
  $dm2 overlay status --config $dir/site-2.toml
  $dm2 roster show --roster $dir/roster.json --ca-dir $dir/consortium
  $dm2 query --config $dir/site-1.toml --modality MR --signature-file $dir/query.sig --top-k 5
Ctrl-C stops the three nodes; their state in $dir is kept for the next start.

TEXT
wait "${pids[@]}"
