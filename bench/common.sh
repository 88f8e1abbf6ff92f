# The preamble bench/*.sh share; source it first: `. "$(dirname "$0")/common.sh"`.
# Strict mode, $root (the source tree), and:
#   bench_program NAME [BUILD_DIR]  sets $bench to BUILD_DIR/bench/NAME (default build dir
#                                   $root/build-<module>, e.g. build-crypto for crypto_bench),
#                                   or exits 2 saying how to build it;
#   bench_tmp                       sets $tmp to a new temporary directory removed at exit;
#   bench_options "$@"              sets $quick to 1 when --quick is among the arguments (else
#                                   empty) and the array $args to the other arguments, in order.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bench_program() {
  local name="$1"
  local build="${2:-$root/build-${name%_bench}}"
  bench="$build/bench/$name"
  [ -x "$bench" ] || {
    echo "$name.sh: $bench not built (configure with -DDM2_BUILD_BENCH=ON, build target $name)" >&2
    exit 2
  }
}

bench_tmp() {
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
}

bench_options() {
  quick=""
  args=()
  local a
  for a in "$@"; do
    if [ "$a" = --quick ]; then quick=1; else args+=("$a"); fi
  done
}

# bench_dm2_program NAME [--quick] [BUILD_DIR] [program arguments...]: the entry of the benches
# that start dm2d processes (ingest, retrieval): prints a header line, then runs BUILD_DIR/bench/NAME
# (default build dir $root/build) with DM2_BINARY_DIR set, passing --quick and the rest on.
bench_dm2_program() {
  local name="$1"
  shift
  local quick_flag=()
  if [ "${1:-}" = "--quick" ]; then quick_flag=(--quick); shift; fi
  local build="${1:-$root/build}"
  bench_program "$name" "$build"
  shift || true
  echo "# $name on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m)"
  DM2_BINARY_DIR="$build" "$bench" "${quick_flag[@]}" "$@"
}
