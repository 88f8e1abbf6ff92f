#!/usr/bin/env bash
# Checks `cmake --install` (docs/operations.md, "Installing"): builds the installed programs as a
# user would (Release, -O3; scripts/build.sh install), installs them into a staging DESTDIR and
# checks every file, that the programs run, and the systemd unit with `systemd-analyze verify`
# when systemd-analyze exists. Usage: scripts/check-install.sh [build dir, default build-install]
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-install}
[ "$build" = build-install ] && bash scripts/build.sh install
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage log=$work/install.log
prefix=/usr/local

DESTDIR="$stage" cmake --install "$build" --prefix "$prefix" > "$log"
fail() { echo "check-install: $*" >&2; cat "$log" >&2; exit 1; }

root="$stage$prefix"
for p in dm2d dm2 dm2-sim; do
  [ -x "$root/bin/$p" ] || fail "bin/$p missing or not executable"
  "$root/bin/$p" --help > /dev/null || fail "bin/$p --help failed"
done
[ -d "$root/share/dm2/web" ] || fail "share/dm2/web missing"
if [ -d node/web ]; then
  (cd node/web && find . -type f ! -name .gitkeep) | while read -r f; do
    [ -f "$root/share/dm2/web/$f" ] || fail "web asset $f not installed"
  done
fi
unit="$root/lib/systemd/system/dm2d.service"
[ -f "$unit" ] || fail "lib/systemd/system/dm2d.service missing"
[ -f "$root/lib/sysusers.d/dm2.conf" ] || fail "lib/sysusers.d/dm2.conf missing"
[ -f "$root/share/doc/dm2/operations.md" ] || fail "share/doc/dm2/operations.md missing"
grep -q "^ExecStart=$prefix/bin/dm2d " "$unit" || fail "the unit does not start $prefix/bin/dm2d"
for key in User=dm2 ProtectSystem=strict NoNewPrivileges=yes StateDirectory=dm2 "--data-dir /var/lib/dm2"; do
  grep -q -- "$key" "$unit" || fail "the unit lacks $key"
done

if command -v systemd-analyze > /dev/null 2>&1; then
  # verify resolves ExecStart= on the real file system: point it at the staged binary.
  sed "s|$prefix/bin/dm2d|$root/bin/dm2d|" "$unit" > "$work/dm2d.service"
  out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$work/dm2d.service" 2>&1) || true
  # Outside a booted systemd (containers, CI) verify also reports its own environment; only
  # lines naming our unit count.
  if grep "dm2d.service" <<<"$out"; then fail "systemd-analyze verify found problems in the unit"; fi
  echo "check-install: systemd-analyze verify: unit clean"
else
  echo "check-install: systemd-analyze not installed, unit verify skipped"
fi
echo "check-install: $(cd "$stage" && find . -type f | wc -l) files installed and checked"
