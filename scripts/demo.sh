#!/usr/bin/env bash
# README's first command: installs what dm2 needs, builds it, and runs a local demo consortium of
# three nodes on the embedded default ports (HTTPS 8443, DHT UDP 6881) of 127.0.0.1, .2 and .3,
# with a consortium CA and a signed roster (scripts/demo-consortium.sh). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh release
exec bash scripts/demo-consortium.sh demo
