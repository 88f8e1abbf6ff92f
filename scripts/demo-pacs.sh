# The demo's hospital PACS, sourced by scripts/demo-consortium.sh (needs $root, $dir and the pids
# array, which this adds to). One real PACS per site: Orthanc from Debian, or DCMTK's dcmqrscp when
# Orthanc does not start; AE title PACS<i>, storage in $dir/site-<i>/pacs.
#
# Neither server can be told to listen on loopback only (both bind every interface), so each runs
# in a network namespace of its own whose only interface is lo; socat carries its DICOM port
# through a Unix socket to <net>.<i>:4242 on the host ($net: 127.0.0 unless DM2_DEMO_NET), nowhere else.
#
# Content (first start only): anatomy-like synthetic series from build/simulations/dm2-synth,
# different patients at every site, plus near-duplicates of the demo patient's (seed 1001, at
# site 1) heart MR and chest CT planted at sites 2 and 3: the same person scanned again elsewhere,
# with another local patient ID. The demo patient's ID at site 1 is S1-1001 (his account is linked
# to it; scripts/demo-consortium.sh).

demo_patient=1001
demo_pacs_port=4242

# pacs_netns_prefix: how to enter a new network namespace (root: plain; otherwise as a user
# namespace's root, where the kernel allows it).
pacs_netns() {
  if [ "$(id -u)" -eq 0 ]; then echo "unshare --net"; else echo "unshare --map-root-user --net"; fi
}

# pacs_echo SITE: does the site's PACS answer C-ECHO through its loopback port?
pacs_echo() {
  echoscu -to 2 -aet DEMOECHO -aec "PACS$1" "$net.$1" "$demo_pacs_port" > /dev/null 2>&1
}

pacs_orthanc_config() {
  local i="$1" p="$2"
  cat > "$p/orthanc.json" <<JSON
{
  "Name": "site-$i PACS",
  "StorageDirectory": "$p/orthanc",
  "IndexDirectory": "$p/orthanc",
  "DicomAet": "PACS$i",
  "DicomPort": $demo_pacs_port,
  "DicomCheckCalledAet": true,
  "DicomAlwaysAllowStore": true,
  "DicomModalities": { "dm2": [ "DM2SITE$i", "127.0.0.1", 11112 ] },
  "HttpServerEnabled": false,
  "RemoteAccessAllowed": false,
  "StorageCompression": false,
  "SaveJobs": false,
  "Plugins": []
}
JSON
}

pacs_dcmqrscp_config() {
  local i="$1" p="$2"
  mkdir -p "$p/dcmqrscp"
  cat > "$p/dcmqrscp.cfg" <<CFG
NetworkTCPPort = $demo_pacs_port
MaxPDUSize = 65536
MaxAssociations = 16
HostTable BEGIN
dm2 = (DM2SITE$i, 127.0.0.1, 11112)
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
PACS$i $p/dcmqrscp RW (2000, 2048mb) ANY
AETable END
CFG
}

# pacs_start SITE: starts the site's PACS and its loopback bridge, waits for C-ECHO.
# Sets pacs_kind (orthanc or dcmqrscp). Returns 1 when neither server starts.
pacs_start() {
  local i="$1" p="$dir/site-$1/pacs"
  mkdir -p "$p"
  rm -f "$p/dicom.sock"
  # The host side: <net>.<i>:4242 -> the Unix socket (one connection per association).
  socat "TCP-LISTEN:$demo_pacs_port,bind=$net.$i,reuseaddr,fork,nodelay" "UNIX-CONNECT:$p/dicom.sock" \
    2>> "$p/bridge.log" &
  pids+=($!)
  local kinds=(orthanc dcmqrscp)
  [ -f "$p/kind" ] && kinds=("$(cat "$p/kind")")  # the server that holds this site's content
  for pacs_kind in "${kinds[@]}"; do
    local server
    if [ "$pacs_kind" = orthanc ]; then
      pacs_orthanc_config "$i" "$p"
      server="/usr/sbin/Orthanc $p/orthanc.json"
    else
      pacs_dcmqrscp_config "$i" "$p"
      server="/usr/bin/dcmqrscp -c $p/dcmqrscp.cfg"
    fi
    # The namespace side: the server on its private lo, socat from the Unix socket to it.
    # shellcheck disable=SC2086
    $(pacs_netns) bash -c '
      ip link set lo up || exit 1
      '"$server"' > "$1/server.log" 2>&1 & server=$!
      socat "UNIX-LISTEN:$1/dicom.sock,fork,unlink-early" "TCP:127.0.0.1:$2,nodelay" 2>> "$1/bridge.log" & bridge=$!
      trap "kill $server $bridge 2>/dev/null; wait" TERM INT
      wait' pacs "$p" "$demo_pacs_port" &
    local ns=$!
    for _ in $(seq 100); do
      pacs_echo "$i" && { pids+=("$ns"); echo "$pacs_kind" > "$p/kind"; return 0; }
      kill -0 "$ns" 2> /dev/null || break
      sleep 0.1
    done
    kill "$ns" 2> /dev/null || true
    wait "$ns" 2> /dev/null || true
    echo "demo: site-$i: $pacs_kind did not start (see $p/server.log)" >&2
  done
  return 1
}

# pacs_series SITE OUT SEED VARIANT KIND [dm2-synth overrides...]: writes one series and sends it
# to the site's PACS; the synthesizer's line (UIDs, anatomy; nothing nominative) goes to the
# site's manifest.
pacs_series() {
  local i="$1" out="$2" seed="$3" variant="$4" kind="$5"
  shift 5
  "$build/simulations/dm2-synth" --out "$out" --seed "$seed" --variant "$variant" --kind "$kind" \
    --institution "Hopital Site $i" "$@" >> "$dir/site-$i/pacs/manifest.jsonl"
  storescu -aet DEMOLOAD -aec "PACS$i" --required "$net.$i" "$demo_pacs_port" "$out"/*.dcm
  rm -rf "$out"
}

# pacs_load SITE: first start only, fills the site's PACS.
pacs_load() {
  local i="$1" p="$dir/site-$1/pacs"
  [ -f "$p/loaded" ] && return 0
  local tmp="$p/incoming"
  rm -rf "$tmp" "$p/manifest.jsonl"
  case "$i" in
    1)  # The demo patient's heart MR (site 1's only MR: the tour queries by it) and chest CT,
        # and two other patients' chest CT.
      pacs_series 1 "$tmp/a" "$demo_patient" 0 heart-mr --patient-id "S1-$demo_patient"
      pacs_series 1 "$tmp/b" "$demo_patient" 0 chest-ct --patient-id "S1-$demo_patient"
      pacs_series 1 "$tmp/c" 1002 0 chest-ct
      pacs_series 1 "$tmp/d" 1003 0 chest-ct ;;
    2)  # The demo patient's heart MR again (near-duplicate), and three other patients.
      pacs_series 2 "$tmp/a" "$demo_patient" 1 heart-mr --patient-id "S2-$demo_patient"
      pacs_series 2 "$tmp/b" 2001 0 heart-mr
      pacs_series 2 "$tmp/c" 2002 0 chest-ct
      pacs_series 2 "$tmp/d" 2003 0 heart-mr ;;
    3)  # The demo patient's heart MR and chest CT again (near-duplicates), and two others.
      pacs_series 3 "$tmp/a" "$demo_patient" 2 heart-mr --patient-id "S3-$demo_patient"
      pacs_series 3 "$tmp/b" "$demo_patient" 1 chest-ct --patient-id "S3-$demo_patient"
      pacs_series 3 "$tmp/c" 3001 0 heart-mr
      pacs_series 3 "$tmp/d" 3002 0 chest-ct ;;
  esac
  rm -rf "$tmp"
  touch "$p/loaded"
  echo "demo: site-$i PACS ($(cat "$p/kind")) holds $(wc -l < "$p/manifest.jsonl") series"
}
