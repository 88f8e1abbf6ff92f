#!/usr/bin/env bash
# README's first command: installs what dm2 needs, builds it, and runs a node on the embedded
# defaults (data in ./dm2-data, HTTPS on 127.0.0.1:8443, DHT on UDP 127.0.0.1:6881) in the
# foreground. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh release

cat <<'TEXT'

dm2d is starting on its embedded defaults. In another terminal:
  curl --cacert dm2-data/identity/ca.crt https://127.0.0.1:8443/health
  curl --cacert dm2-data/identity/ca.crt https://127.0.0.1:8443/metrics
  build/node/dm2 status
Ctrl-C stops it; the identity in ./dm2-data is kept for the next start.

TEXT
exec build/node/dm2d
