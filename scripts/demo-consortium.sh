#!/usr/bin/env bash
# A local demo consortium of three sites on one machine, on the embedded default ports, each with
# a real PACS of its own (scripts/demo-pacs.sh):
#   site-1  HTTPS 127.0.0.1:8443  DHT 127.0.0.1:6881  PACS 127.0.0.1:4242 (AE PACS1)
#   site-2  HTTPS 127.0.0.2:8443  DHT 127.0.0.2:6881  PACS 127.0.0.2:4242 (AE PACS2)
#   site-3  HTTPS 127.0.0.3:8443  DHT 127.0.0.3:6881  PACS 127.0.0.3:4242 (AE PACS3)
# First run: creates the consortium CA, issues the three site identities, signs roster v1 (all
# with the real `dm2 ca` / `dm2 roster` commands) and fills each PACS with synthetic heart MR and
# chest CT series (build/simulations/dm2-synth). Then starts the PACS and the three dm2d in the
# background, each dm2d ingesting its own PACS at start, and stops everything on Ctrl-C.
# Usage: scripts/demo-consortium.sh [DIR, default ./demo] (needs a build). DM2_DEMO_NET moves the
# sites to <net>.1, .2, .3 (default 127.0.0; the browser test uses another loopback /24, so a demo
# and the tests can run side by side).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "${1:-demo}")"
build="${DM2_BUILD_DIR:-$root/build}"  # another build tree (the tests': build-asan)
dm2="$build/node/dm2"
dm2d="$build/node/dm2d"
sites=(1 2 3)
net="${DM2_DEMO_NET:-127.0.0}"

# shellcheck source=scripts/consortium-init.sh
. "$root/scripts/consortium-init.sh"
if [ ! -f "$dir/roster.json" ]; then
  echo "demo: creating the consortium in $dir"
  consortium_init "$dm2" "$dir" "$net" "${#sites[@]}" "Demo Consortium" "roster_refresh_s = 10"
fi

# Each dm2d ingests its own PACS (a demo directory from before the PACS gets it too).
for i in "${sites[@]}"; do
  grep -q '^\[pacs\]' "$dir/site-$i.toml" || cat >> "$dir/site-$i.toml" <<TOML
[pacs]
host = "$net.$i"
port = 4242
called_ae_title = "PACS$i"
calling_ae_title = "DM2SITE$i"
store_address = "$net.$i"
TOML
done

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM
# shellcheck source=scripts/demo-pacs.sh
. "$root/scripts/demo-pacs.sh"
for i in "${sites[@]}"; do
  pacs_start "$i" || { echo "demo: no PACS for site-$i" >&2; exit 1; }
  pacs_load "$i"
done
for i in "${sites[@]}"; do
  "$dm2d" --config "$dir/site-$i.toml" 2> "$dir/site-$i.log" &
  pids+=($!)
done
for i in "${sites[@]}"; do
  for _ in $(seq 100); do
    curl -sf --cacert "$dir/consortium/ca.crt" "https://$net.$i:8443/health" > /dev/null && break
    sleep 0.1
  done
done
# Each site ingests its PACS at start; wait for that, and name the demo patient's heart MR.
/usr/bin/python3 "$root/scripts/demo-wait-ingest.py" "$dir" "${sites[@]}" ||
  echo "demo: the ingest did not go as planned (see $dir/site-N.log); the nodes keep running" >&2

# People of site 1 (first start only): a site admin, the demo patient's own account, a physician
# of his care team, and a researcher whom that physician grants the patient's heart MR. Each
# password is random, written once to $dir/accounts/<name>.password (0600), never shown on a
# command line: the CLI reads it on stdin.
site1=(--config "$dir/site-1.toml")
if [ ! -f "$dir/accounts/created" ] && [ -s "$dir/patient.lfn" ]; then
  (umask 077 && mkdir -p "$dir/accounts")
  for who in demo-admin:site_admin demo-patient:patient dr-demo:physician m-demo:researcher; do
    name="${who%%:*}" role="${who#*:}"
    (umask 077 && /usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(15))' > "$dir/accounts/$name.password")
    extra=()
    [ "$role" = patient ] && extra=(--patient-id "S1-$demo_patient")
    "$dm2" user add "$name" --role "$role" "${extra[@]}" "${site1[@]}" < "$dir/accounts/$name.password" > /dev/null
  done
  "$dm2" care-team add --patient-id "S1-$demo_patient" --user dr-demo "${site1[@]}" > /dev/null
  "$dm2" sign-in dr-demo --session "$dir/accounts/dr-demo.session" "${site1[@]}" \
    < "$dir/accounts/dr-demo.password" > /dev/null
  "$dm2" grant add m-demo --lfn "$(cat "$dir/patient.lfn")" --session "$dir/accounts/dr-demo.session" \
    "${site1[@]}" > /dev/null
  touch "$dir/accounts/created"
  echo "demo: site-1 accounts demo-admin, demo-patient, dr-demo (the patient's care team) and m-demo"
  echo "      (a grant of the patient's heart MR); passwords in $dir/accounts/<name>.password (0600)"
fi

cat <<TEXT

The demo consortium is running (logs: $dir/site-N.log). Try:
  open https://$net.1:8443/ in a browser (the clinician's desk; sign in as dr-demo)
  curl --cacert $dir/consortium/ca.crt https://$net.1:8443/health
  curl --cacert $dir/consortium/ca.crt https://$net.1:8443/metrics
  $dm2 status --config $dir/site-1.toml
  $dm2 overlay status --config $dir/site-2.toml
  $dm2 roster show --roster $dir/roster.json --ca-dir $dir/consortium
  $dm2 ingest status --config $dir/site-2.toml
  $dm2 query --config $dir/site-1.toml --modality MR --lfn \$(cat $dir/patient.lfn) --top-k 5
(the demo patient's heart MR at site 1 ranks first, its near-duplicates at sites 2 and 3 next)
  $dm2 query --config $dir/site-1.toml --modality MR --by-series \$(cat $dir/patient.lfn) --measure mi --top-k 5
(by image: its near-duplicates rank first, scored by mi/1 at the sites that hold them; also ncc, cr)
People of site 1 (README, "Quick tour"): sign in, then act as that user:
  $dm2 sign-in m-demo --session $dir/m.session --config $dir/site-1.toml < $dir/accounts/m-demo.password
  $dm2 series get \$(cat $dir/patient.lfn) --out $dir/granted --session $dir/m.session --config $dir/site-1.toml
Ctrl-C stops the three nodes and their PACS; their state in $dir is kept for the next start.

TEXT
wait "${pids[@]}"
