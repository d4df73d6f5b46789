#!/usr/bin/env sh
# The committed CPU results: the full `dsgdn bench --device cpu` (about 20
# minutes on two cores), then what each change to the sparse block bought
# (`python benchmarks/paths.py`, a few minutes).
#
# Usage: sh benchmarks/run_cpu.sh [OPTION...]
#   Every OPTION goes to `dsgdn bench` (its list: `dsgdn bench --help`),
#   which checks them all before any timing and refuses a bad one (exit 2,
#   paths.py then does not run), e.g. --out DIR (default: the committed
#   benchmarks/results/cpu-<cpu model>; a relative DIR is taken from the
#   repository root, where the script runs) or --overwrite to replace the
#   results of an earlier run there. --threads N also goes to paths.py.
#   --device is refused (this is the CPU run; for CUDA see gpu.sh), and so
#   is a subcommand (`dsgdn bench layers` runs the layer suite).
#   -h, --help  prints this help and runs nothing.
set -e

usage() {
  sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
}

case "${1-}" in
  ''|-*) ;;
  *) echo "run_cpu.sh: unexpected argument '$1' (expected options of" \
          "dsgdn bench; see --help)" >&2
     exit 2 ;;
esac
threads="" previous=""
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --device|--device=*)
      echo "run_cpu.sh: --device: not taken, this is the CPU run (dsgdn" \
           "bench --device cpu); for CUDA see benchmarks/gpu.sh" >&2
      exit 2 ;;
    --threads=*) threads=${arg#*=} ;;
  esac
  [ "$previous" != --threads ] || threads=$arg
  previous=$arg
done

cd "$(dirname "$0")/.."
dsgdn bench --device cpu "$@"
if [ -n "$threads" ]; then
  python benchmarks/paths.py --threads "$threads"
else
  python benchmarks/paths.py
fi
