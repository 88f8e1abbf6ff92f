#!/usr/bin/env bash
# QIDO-RS at the issue's scale (issue 12), measured with wrk (keep-alive connections, several at
# once), in one run:
#  1. one dm2d holding N indexed studies (default 10,000) against Orthanc 1.10 with its DICOMweb
#     plugin (orthanc-dicomweb) holding the same N studies: the same series search on both,
#     requests/s and p99 of each, their ratio and the goal line (>= 3x Orthanc's requests/s with
#     a lower p99);
#  2. a federated QIDO-RS across S loopback dm2d sites (default 16), each holding its own share
#     of the studies: p50 and p99.
# The studies are small synthetic single-instance ones (bench/dicomweb_studies.py, pydicom), made
# once and kept under <build>/bench-dicomweb with what was loaded from them (Orthanc's database,
# the sites' data), so a second run only measures. dm2's index is filled with POST /v1/records,
# the write the ingest ends with, each record the attributes the ingest reads from that study's
# file: the full ingest of 10,000 studies (fetch, de-identification, NIfTI, signatures, key
# shares, about 1 series/s on this machine: docs/ingest.md) would take hours and exercise nothing
# QIDO-RS reads (docs/dicomweb.md, "Measured").
# Checks (which fail the run): both servers find exactly the studies the generator says match
# the search; the federated search finds exactly those of every site, no site missing.
# Needs root (Orthanc's network namespace), a release build (dm2d, dm2), wrk and pydicom.
# Usage: bench/dicomweb_bench.sh [--quick] [build dir, default build]
#   --quick: 200 studies, 4 sites, 3 s of wrk each (default: 10,000 studies, 16 sites, 20 s)
. "$(dirname "$0")/common.sh"
# shellcheck source=scripts/consortium-init.sh
. "$root/scripts/consortium-init.sh"
bench_options "$@"
build="$(realpath "${args[0]:-$root/build}")"
studies=10000 sites=16 seconds=20
# The solo search: a month of MR studies (about 40 of 10,000; all MR of the quick run's 200).
solo_query="Modality=MR&StudyDate=20220101-20220131" solo_match=(modality=MR study_date=20220101-20220131)
[ -n "$quick" ] && studies=200 sites=4 seconds=3 solo_query="Modality=MR" solo_match=(modality=MR)
# The federated search: each site's MR head studies (about 80 of 16 x 100).
per_site=$((studies / 100)) fed_query="Modality=MR&BodyPartExamined=HEAD" fed_match=(modality=MR body_part=HEAD)
[ -n "$quick" ] && per_site=25
solo_net=127.0.93 fed_net=127.0.94
for p in "$build/node/dm2d" "$build/node/dm2"; do
  [ -x "$p" ] || { echo "dicomweb_bench: build dm2d and dm2 first ($build)" >&2; exit 2; }
done
command -v wrk > /dev/null || { echo "dicomweb_bench: needs wrk (bash scripts/install-deps.sh)" >&2; exit 2; }
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] ||
  { echo "dicomweb_bench: needs orthanc-dicomweb (bash scripts/install-deps.sh)" >&2; exit 2; }
py=/usr/bin/python3  # Debian's, with python3-pydicom
helper="$root/bench/dicomweb_studies.py"
work="$build/bench-dicomweb"
data="$work/studies-$studies"
mkdir -p "$work"
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# dicomweb_bench on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(load)"

pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
  pids=()
}
trap stop EXIT

t0=$(date +%s)
"$py" "$helper" generate "$data" "$studies"
echo "# $studies studies in $data ($(($(date +%s) - t0)) s to make or find)"

# consortium DIR NET COUNT: a consortium of COUNT sites on NET.1..COUNT (made once by
# scripts/consortium-init.sh, as the demo's), started; their pids appended to pids.
consortium() {
  local dir="$1" net="$2" count="$3" dm2="$build/node/dm2" i
  if [ ! -f "$dir/roster.json" ]; then
    rm -rf "$dir"
    consortium_init "$dm2" "$dir" "$net" "$count" "Bench Consortium"
  fi
  for i in $(seq "$count"); do
    "$build/node/dm2d" --config "$dir/site-$i.toml" 2> "$dir/site-$i.log" &
    pids+=($!)
  done
  for i in $(seq "$count"); do
    for _ in $(seq 300); do
      curl -sf --cacert "$dir/consortium/ca.crt" "https://$net.$i:8443/health" > /dev/null && break
      sleep 0.2
    done
    curl -sf --cacert "$dir/consortium/ca.crt" "https://$net.$i:8443/health" > /dev/null ||
      { echo "dicomweb_bench: site-$i of $dir did not start" >&2; tail "$dir/site-$i.log" >&2; exit 1; }
  done
}

# Commands that reach Orthanc run inside its network namespace (runner: nsenter), the rest here.
runner=()

# measure NAME URL [wrk args]: wrk for $seconds s, 2 threads, 4 connections, through $runner;
# sets rps, p50 and p99 (ms). Any answer but 200 fails the run.
measure() {
  local name="$1" url="$2" out
  shift 2
  out=$("${runner[@]}" wrk -t2 -c4 -d"${seconds}s" --latency "$@" "$url")
  echo "$out" > "$work/wrk-$name.txt"
  if grep -q "Non-2xx" <<< "$out"; then echo "dicomweb_bench: $name: answers other than 200" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/^Requests\/sec:/ { printf "%.1f", $2 }' <<< "$out")
  p50=$(wrk_ms 50% <<< "$out") p99=$(wrk_ms 99% <<< "$out")
}
# A percentile line of wrk --latency ("99%   12.34ms") in ms.
wrk_ms() {
  awk -v q="$1" '$1 == q { v = $2; u = v; sub(/^[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                           printf "%.1f", v * (u == "us" ? 0.001 : u == "s" ? 1000 : u == "m" ? 60000 : 1) }'
}

# found URL [curl args]: how many results a QIDO-RS answer holds, through $runner; a Warning that
# names sites that did not answer fails the run.
found() {
  local url="$1" answer
  shift
  answer=$("${runner[@]}" curl -sf -D - "$@" "$url") || { echo "dicomweb_bench: $url failed" >&2; exit 1; }
  if grep -qi "^warning:.*answer" <<< "${answer%%$'\r\n\r\n'*}"; then
    echo "dicomweb_bench: $url: ${answer%%$'\r\n\r\n'*}" >&2
    exit 1
  fi
  "$py" -c 'import json, sys; print(len(json.load(sys.stdin)))' <<< "${answer#*$'\r\n\r\n'}"
}

# 1. One dm2d against Orthanc, the same studies.
# Orthanc with its DICOMweb plugin, alone in a network namespace (it cannot listen on loopback
# only); wrk and the loading run inside that namespace, so Orthanc is measured without a bridge.
o="$work/orthanc-$studies"
[ -f "$o/loaded" ] || rm -rf "$o"
mkdir -p "$o"
cat > "$o/orthanc.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$o/db", "IndexDirectory": "$o/db",
  "DicomServerEnabled": false, "HttpServerEnabled": true, "HttpPort": 8042,
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "StorageCompression": false,
  "SaveJobs": false, "Plugins": [ "/usr/share/orthanc/plugins/libOrthancDicomWeb.so" ],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" } }
JSON
unshare --net bash -c 'ip link set lo up && exec Orthanc "$1/orthanc.json" > "$1/server.log" 2>&1' orthanc "$o" &
orthanc_pid=$!
pids+=($orthanc_pid)
in_orthanc_net() { nsenter -t "$orthanc_pid" -n "$@"; }
orthanc=http://127.0.0.1:8042
for _ in $(seq 150); do in_orthanc_net curl -sf "$orthanc/system" > /dev/null && break; sleep 0.2; done
in_orthanc_net curl -sf "$orthanc/system" > /dev/null || { cat "$o/server.log" >&2; exit 1; }
if [ ! -f "$o/loaded" ]; then
  t0=$(date +%s)
  in_orthanc_net "$py" "$helper" orthanc "$orthanc" "$data"
  echo "# Orthanc stored the $studies studies in $(($(date +%s) - t0)) s (POST /instances, 4 connections)"
  touch "$o/loaded"
fi

solo="$work/solo-$studies"
consortium "$solo" "$solo_net" 1
solo_url="https://$solo_net.1:8443"
if [ ! -f "$solo/loaded" ]; then
  t0=$(date +%s)
  "$py" "$helper" records "$solo_url" "$solo/site-1" "$data"
  echo "# dm2 indexed the $studies studies in $(($(date +%s) - t0)) s (POST /v1/records, 4 connections)"
  touch "$solo/loaded"
fi
token=$("$py" "$helper" token "$solo_url" "$solo/site-1" "$solo/consortium/ca.crt")
auth=("-H" "Authorization: Bearer $token")

solo_expected=$("$py" "$helper" count "$data" 0 "$studies" "${solo_match[@]}")
dm2_found=$(found "$solo_url/dicom-web/series?$solo_query" --cacert "$solo/consortium/ca.crt" "${auth[@]}")
runner=(nsenter -t "$orthanc_pid" -n)
orthanc_found=$(found "$orthanc/dicom-web/series?$solo_query")
runner=()
echo "# series?$solo_query: $solo_expected studies match; dm2 found $dm2_found, Orthanc $orthanc_found"
[ "$dm2_found" = "$solo_expected" ] && [ "$orthanc_found" = "$solo_expected" ] ||
  { echo "dicomweb_bench: the searches disagree with the studies" >&2; exit 1; }

echo "# load before the measures: $(load)"
measure dm2 "$solo_url/dicom-web/series?$solo_query" "${auth[@]}"
dm2_rps=$rps dm2_p50=$p50 dm2_p99=$p99
runner=(nsenter -t "$orthanc_pid" -n)
measure orthanc "$orthanc/dicom-web/series?$solo_query"
runner=()
orthanc_rps=$rps orthanc_p50=$p50 orthanc_p99=$p99
stop  # the solo site and Orthanc: the federated sites have the machine to themselves

# 2. A federated search across the sites, each holding per_site of the studies.
fed="$work/federated-$sites-$per_site"
consortium "$fed" "$fed_net" "$sites"
fed_url="https://$fed_net.1:8443"
if [ ! -f "$fed/loaded" ]; then
  for i in $(seq "$sites"); do
    "$py" "$helper" records "https://$fed_net.$i:8443" "$fed/site-$i" "$data" $(((i - 1) * per_site)) "$per_site"
  done
  touch "$fed/loaded"
fi
token=$("$py" "$helper" token "$fed_url" "$fed/site-1" "$fed/consortium/ca.crt")
auth=("-H" "Authorization: Bearer $token")
fed_expected=$("$py" "$helper" count "$data" 0 $((sites * per_site)) "${fed_match[@]}")
# The sites find each other over the DHT after start: wait until every one answers the search.
fed_found=0
for _ in $(seq 60); do
  fed_found=$( (found "$fed_url/dicom-web/series?$fed_query" --cacert "$fed/consortium/ca.crt" "${auth[@]}") 2> /dev/null) || fed_found=0
  [ "$fed_found" = "$fed_expected" ] && break
  sleep 1
done
echo "# federated series?$fed_query across $sites sites ($per_site studies each): $fed_expected match; dm2 found $fed_found"
[ "$fed_found" = "$fed_expected" ] || { echo "dicomweb_bench: the federated search missed studies or sites" >&2; exit 1; }
echo "# load before the measure: $(load)"
measure federated "$fed_url/dicom-web/series?$fed_query" "${auth[@]}"
fed_rps=$rps fed_p50=$p50 fed_p99=$p99
stop

echo "# wrk: 2 threads, 4 connections, ${seconds} s each; load after: $(load)"
echo "| QIDO-RS series search | server | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"
echo "| $studies studies, series?$solo_query ($solo_expected hits) | dm2, one site | $dm2_rps | $dm2_p50 | $dm2_p99 |"
echo "| | Orthanc 1.10 + DICOMweb | $orthanc_rps | $orthanc_p50 | $orthanc_p99 |"
echo "| federated, $sites sites x $per_site studies, series?$fed_query ($fed_expected hits) | dm2, $sites sites | $fed_rps | $fed_p50 | $fed_p99 |"
ratio=$(awk -v a="$dm2_rps" -v b="$orthanc_rps" 'BEGIN { printf "%.2f", a / b }')
goal=NO
awk -v r="$ratio" -v a="$dm2_p99" -v b="$orthanc_p99" 'BEGIN { exit !(r >= 3 && a < b) }' && goal=YES
echo "dm2 / Orthanc requests/s: ${ratio}x; p99 $dm2_p99 ms vs $orthanc_p99 ms"
echo "goal (issue 12): QIDO-RS >= 3x Orthanc's requests/s with a lower p99: $goal"
