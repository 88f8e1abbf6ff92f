#!/usr/bin/env bash
# DICOMweb through dm2 against Orthanc 1.10's own DICOMweb plugin, same run, same series: the
# demo consortium (scripts/demo-consortium.sh: three dm2d, each with its real PACS) on a loopback
# /24, and one Orthanc with the plugin (orthanc-dicomweb) in a private network namespace holding
# every instance of the three sites' PACS. Measured with keep-alive HTTPS/HTTP from Node
# (bench/dicomweb_bench.mjs), one request at a time: QIDO-RS series search (Modality=MR; dm2 fans
# out to the three sites, Orthanc answers from its one database) and WADO-RS retrieval of the demo
# patient's heart MR (dm2: the retrieval path, key shares from the peers; Orthanc: its files).
# Checks (which fail the run): both find the same MR series, both serve the series' every
# instance. The goal line (issue 12: QIDO-RS >= 3x Orthanc's requests/s) is printed, not enforced.
# Needs root (the network namespace), a release build (dm2d, dm2, dm2-synth) and Node.
# Usage: bench/dicomweb_bench.sh [--quick] [build dir, default build]
#   --quick: 20 searches and 5 retrievals each; default 200 and 30.
. "$(dirname "$0")/common.sh"
bench_options "$@"
build="$(realpath "${args[0]:-$root/build}")"
net=127.0.93
searches=200 retrievals=30
[ -n "$quick" ] && searches=20 retrievals=5
[ -x "$build/node/dm2d" ] || { echo "dicomweb_bench: build dm2d and dm2 first ($build)" >&2; exit 2; }
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] ||
  { echo "dicomweb_bench: needs orthanc-dicomweb (bash scripts/install-deps.sh)" >&2; exit 2; }
work="$build/bench-dicomweb"
mkdir -p "$work"
echo "# dicomweb_bench on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"

pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
}
trap stop EXIT

# The consortium (its state kept in $work/demo between runs: the first run ingests).
DM2_DEMO_NET=$net DM2_BUILD_DIR="$build" bash "$root/scripts/demo-consortium.sh" "$work/demo" > "$work/demo.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  [ -f "$work/demo/accounts/created" ] && curl -sf --cacert "$work/demo/consortium/ca.crt" "https://$net.1:8443/health" > /dev/null && break
  kill -0 "${pids[0]}" 2> /dev/null || { cat "$work/demo.log" >&2; exit 1; }
  sleep 1
done

# Orthanc with its DICOMweb plugin, alone in a network namespace; its HTTP port bridged to
# $net.50:8042 through a Unix socket (Orthanc cannot listen on loopback only).
o="$work/orthanc"
rm -rf "$o" && mkdir -p "$o"
cat > "$o/orthanc.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$o/db", "IndexDirectory": "$o/db",
  "DicomServerEnabled": false, "HttpServerEnabled": true, "HttpPort": 8042,
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "StorageCompression": false,
  "SaveJobs": false, "Plugins": [ "/usr/share/orthanc/plugins/libOrthancDicomWeb.so" ],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" } }
JSON
unshare --net bash -c '
  ip link set lo up || exit 1
  Orthanc "$1/orthanc.json" > "$1/server.log" 2>&1 & server=$!
  socat "UNIX-LISTEN:$1/http.sock,fork,unlink-early" "TCP:127.0.0.1:8042,nodelay" 2>> "$1/bridge.log" & bridge=$!
  trap "kill $server $bridge 2>/dev/null; wait" TERM INT
  wait' orthanc "$o" &
pids+=($!)
socat "TCP-LISTEN:8042,bind=$net.50,reuseaddr,fork" "UNIX-CONNECT:$o/http.sock" 2>> "$o/bridge.log" &
pids+=($!)
orthanc="http://$net.50:8042"
for _ in $(seq 100); do curl -sf "$orthanc/system" > /dev/null && break; sleep 0.2; done
curl -sf "$orthanc/system" > /dev/null || { cat "$o/server.log" >&2; exit 1; }
# The same instances: every DICOM file the three sites' PACS hold.
loaded=0
while IFS= read -r -d '' f; do
  [ "$(dd if="$f" bs=1 skip=128 count=4 2> /dev/null | tr -d '\0')" = DICM ] || continue  # a Part 10 file
  curl -sf -X POST --data-binary @"$f" "$orthanc/instances" > /dev/null
  loaded=$((loaded + 1))
done < <(find "$work/demo"/site-*/pacs -type f -size +1k -print0)
echo "# Orthanc holds $loaded instances of the three sites' PACS"

DM2_URL="https://$net.1:8443" DM2_DIR="$work/demo" ORTHANC_URL="$orthanc" SEARCHES=$searches RETRIEVALS=$retrievals \
  NODE_EXTRA_CA_CERTS="$work/demo/consortium/ca.crt" node "$root/bench/dicomweb_bench.mjs"
