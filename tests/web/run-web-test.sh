#!/usr/bin/env bash
# A test of tests/web against the real demo (ctest: web_desk_test, web_dicomweb_test): starts the
# demo consortium (scripts/demo-consortium.sh: three dm2d, each with its real PACS in a network
# namespace) on the loopback block NET.0/24, adds a researcher without any grant, then runs the
# Node test file TEST (node --test): desk.test.mjs drives the page in Debian's chromium with
# playwright-core, dicomweb.test.mjs calls DICOMweb with the npm dicomweb-client. The demo CA is
# trusted through NODE_EXTRA_CA_CERTS. Work files (the demo, its logs, screenshots) stay in
# BUILD/web-test/<name>. Everything it started is stopped when it ends, whatever the outcome.
# Usage: tests/web/run-web-test.sh BUILD_DIR TEST NET   (NET: e.g. 127.0.90; see the lock below)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(realpath "${1:?usage: run-web-test.sh BUILD_DIR TEST NET}")"
test_file="$root/tests/web/${2:?usage: run-web-test.sh BUILD_DIR TEST NET}"
wanted_net="${3:?usage: run-web-test.sh BUILD_DIR TEST NET}"
work="$build/web-test/$(basename "$test_file" .test.mjs)"

modules="$root/tests/web/node_modules"
if [ ! -d "$modules/playwright-core" ] || [ ! -d "$modules/dicomweb-client" ] || [ ! -d "$modules/xhr2" ] ||
  { grep -q playwright-core "$test_file" && ! command -v chromium > /dev/null; }; then
  echo "web test: needs chromium and tests/web/node_modules (bash scripts/install-deps.sh installs both)" >&2
  exit 77  # skipped (SKIP_RETURN_CODE); CI requires the web label to run
fi

# Another checkout (a worktree) may run the same test at the same time: each run holds a lock on its
# loopback /24 for its whole life and takes the next free block (127.0.200-239) if NET is held.
net=
for candidate in "$wanted_net" $(seq -f "127.0.%g" 200 239); do
  exec {net_lock}> "/tmp/dm2-web-test-$candidate.lock"
  if flock -n "$net_lock"; then net=$candidate; break; fi
  exec {net_lock}>&-
done
[ -n "$net" ] || { echo "web test: every loopback block 127.0.200-239 is in use" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work/screenshots"
DM2_DEMO_NET=$net DM2_BUILD_DIR="$build" bash "$root/scripts/demo-consortium.sh" "$work/demo" > "$work/demo.log" 2>&1 &
demo=$!
stop() {
  kill -TERM "$demo" 2> /dev/null || true
  wait "$demo" 2> /dev/null || true
}
trap stop EXIT

# The demo prints its accounts once every site has ingested its PACS.
for _ in $(seq 600); do
  [ -f "$work/demo/accounts/created" ] && break
  kill -0 "$demo" 2> /dev/null || { cat "$work/demo.log" >&2; exit 1; }
  sleep 1
done
[ -f "$work/demo/accounts/created" ] || { echo "web test: the demo did not get ready" >&2; cat "$work/demo.log" >&2; exit 1; }

# A researcher with no grant at all.
(umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(15))' > "$work/demo/accounts/m-nogrant.password")
"$build/node/dm2" user add m-nogrant --role researcher --config "$work/demo/site-1.toml" \
  < "$work/demo/accounts/m-nogrant.password" > /dev/null

DESK_URL="https://$net.1:8443/" DESK_DIR="$work/demo" DESK_SHOTS="$work/screenshots" DESK_BUILD="$build" \
  NODE_EXTRA_CA_CERTS="$work/demo/consortium/ca.crt" node --test --test-reporter=spec "$test_file"
