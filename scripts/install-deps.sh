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
  libfaiss-dev  # stage 1's vector search (static, with OpenMP and BLAS)
  libgoogle-perftools-dev  # tcmalloc for dm2-sim (docs/dependencies.md)
  libomp-dev  # OpenMP for clang: FAISS's OpenMP calls in the fuzz build (gcc brings its own libgomp)
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev curl
  dcmtk orthanc python3 python3-pydicom python3-nibabel python3-numpy python3-matplotlib
  libgdcm-tools
  orthanc-dicomweb  # bench/dicomweb_bench.sh: Orthanc's own DICOMweb, the baseline
  wrk  # bench/dicomweb_bench.sh: QIDO-RS requests/s and latency percentiles under concurrent load
  # the demo: each PACS in its own network namespace, bridged to 127.0.0.N:4242
  socat iproute2
  # the clinician's desk in a real browser (tests/web, test-only; driven by npm playwright-core)
  chromium
)
# Node.js and npm for tests/web: the machine's own when it has them (playwright-core wants
# Node.js >= 20), else Debian's.
command -v npm > /dev/null || packages+=(nodejs npm)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tests/web's npm packages, exactly as its package-lock.json says (again when the lock changed).
web="$(cd "$(dirname "$0")/.." && pwd)/tests/web"
if [ ! "$web/node_modules/.package-lock.json" -nt "$web/package-lock.json" ]; then
  echo "install-deps: npm ci in tests/web"
  npm ci --prefix "$web" --no-audit --no-fund --loglevel=error
fi
