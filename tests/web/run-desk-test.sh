#!/usr/bin/env bash
# The clinician's desk end to end (ctest: web_desk_test): starts the demo consortium
# (scripts/demo-consortium.sh: three dm2d, each with its real PACS in a network namespace) on the
# loopback block 127.0.90.0/24, adds a researcher without any grant, then drives the page in
# Debian's chromium with playwright-core (desk.test.mjs). Screenshots stay in
# BUILD/web-test/screenshots. Everything it started is stopped when it ends, whatever the outcome.
# Usage: tests/web/run-desk-test.sh BUILD_DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="$(realpath "${1:?usage: run-desk-test.sh BUILD_DIR}")"
net=127.0.90
work="$build/web-test"

if [ ! -d "$root/tests/web/node_modules/playwright-core" ] || ! command -v chromium > /dev/null; then
  echo "web test: needs chromium and tests/web/node_modules (bash scripts/install-deps.sh installs both)" >&2
  exit 77  # skipped (SKIP_RETURN_CODE); CI requires the web label to run
fi

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

DESK_URL="https://$net.1:8443/" DESK_DIR="$work/demo" DESK_SHOTS="$work/screenshots" \
  node --test --test-reporter=spec "$root/tests/web/desk.test.mjs"
