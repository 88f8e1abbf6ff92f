#!/usr/bin/env bash
# Installs every Debian 12 package dm2 builds with, tests against and demos with.
# Idempotent: apt-get skips what is already there. Runs as root or through sudo.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates clang libclang-rt-14-dev
  ccache  # scripts/build.sh and fuzz.sh share compiled objects across builds and checkouts
  # libraries linked by dm2
  libtorrent-rasterbar-dev libboost-dev libboost-system-dev libssl-dev openssl
  librocksdb-dev libdcmtk-dev libgfshare-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev libnifti2-dev zlib1g-dev libargon2-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl
  dcmtk orthanc python3 python3-pydicom python3-nibabel python3-numpy python3-matplotlib
  libgdcm-tools
  # the demo: each PACS in its own network namespace, bridged to 127.0.0.N:4242
  socat iproute2
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
