#!/usr/bin/env bash
# Everything that needs CUDA, in one call (about 8 minutes on one H200):
#   1. pytest    python -m pytest -m gpu             (the GPU tests)
#   2. layers    dsgdn bench layers --device cuda    (the layer suite)
#   3. blocks    dsgdn bench --device cuda           (the block suite)
#   4. train     a short real dsgdn train --device cuda on IEMOCAP text
# Each step has its own time limit, its log is kept in <out>/logs/<step>.log,
# a failing or timed-out step does not stop the others, and the script exits
# 1 at the end when any step failed (steps.tsv says which).
#
# Usage: benchmarks/gpu.sh [--device cuda|cpu] [--out DIR] [--dry-run]
#   --device cpu  runs the same steps on the CPU at tiny sizes (the test of
#                 this script's logic); the default is cuda.
#   --out DIR     default: benchmarks/results/cuda-<gpu name>
#   --dry-run     prints the steps and writes nothing.
# Time limits (seconds) can be changed with LIMIT_PYTEST, LIMIT_LAYERS,
# LIMIT_BLOCKS, LIMIT_TRAIN; IEMOCAP is read from $IEMOCAP (default:
# $DSGDN_DATA/iemocap, the datasets folder; unset: ../shared/data/iemocap).
set -u
cd "$(dirname "$0")/.."

DEVICE=${DEVICE:-cuda}
OUT=""
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=${2:-}; shift 2 ;;
    --device=*) DEVICE=${1#*=}; shift ;;
    --out) OUT=${2:-}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (expected --device, --out, --dry-run)" >&2
       exit 2 ;;
  esac
done
case "$DEVICE" in
  cuda|cpu) ;;
  *) echo "gpu.sh: --device: expected cuda or cpu, got '$DEVICE'" >&2; exit 2 ;;
esac
IEMOCAP=${IEMOCAP:-${DSGDN_DATA:-../shared/data}/iemocap}

if [ -z "$OUT" ]; then
  if [ "$DEVICE" = cuda ]; then
    GPU=$(python -c "import torch; print(torch.cuda.get_device_name())" \
          2>/dev/null || echo unknown-gpu)
    OUT="benchmarks/results/cuda-$(echo "$GPU" | tr 'A-Z' 'a-z' |
          sed -e 's/[^a-z0-9]\{1,\}/-/g' -e 's/^-//' -e 's/-$//')"
  else
    OUT="benchmarks/results/gpu-sh-cpu-check"
  fi
fi

if [ "$DEVICE" = cuda ]; then
  PYTEST_ARGS="-m gpu tests"
  LAYERS_ARGS=""
  BLOCKS_ARGS="--repeats 5"
  TRAIN_ARGS="--data $IEMOCAP --modalities t --input-dims data --epochs 5 --seed 1"
  : "${LIMIT_PYTEST:=60}" "${LIMIT_LAYERS:=150}" "${LIMIT_BLOCKS:=180}" \
    "${LIMIT_TRAIN:=60}"
else
  # The same steps at tiny sizes: checks this script, not the GPU.
  PYTEST_ARGS="-m gpu tests/test_cuda.py"
  LAYERS_ARGS="--quick --cases random-100k --layers gat,diff --repeats 1 --warmup 0"
  BLOCKS_ARGS="--lengths 6,12 --windows 2 --repeats 1 --warmup 0 --channels 16 --no-e2e --no-huge"
  TRAIN_ARGS="--synthetic-dialogues 12 --hidden 32 --epochs 1 --seed 1"
  : "${LIMIT_PYTEST:=120}" "${LIMIT_LAYERS:=180}" "${LIMIT_BLOCKS:=120}" \
    "${LIMIT_TRAIN:=120}"
fi

STEPS="pytest layers blocks train"
command_of() {
  case "$1" in
    pytest) echo "python -m pytest -q -p no:cacheprovider $PYTEST_ARGS" ;;
    layers) echo "dsgdn bench layers --device $DEVICE --out $OUT/layers $LAYERS_ARGS" ;;
    blocks) echo "dsgdn bench --device $DEVICE --out $OUT/blocks $BLOCKS_ARGS" ;;
    train) echo "dsgdn train --device $DEVICE --out $OUT/train --overwrite $TRAIN_ARGS" ;;
  esac
}
limit_of() {
  case "$1" in
    pytest) echo "$LIMIT_PYTEST" ;; layers) echo "$LIMIT_LAYERS" ;;
    blocks) echo "$LIMIT_BLOCKS" ;; train) echo "$LIMIT_TRAIN" ;;
  esac
}

if [ "$DRY" = 1 ]; then
  echo "output: $OUT"
  for step in $STEPS; do
    echo "$step (limit $(limit_of "$step") s): $(command_of "$step")"
  done
  exit 0
fi

mkdir -p "$OUT/logs" || { echo "gpu.sh: cannot create $OUT" >&2; exit 2; }
printf 'step\tstatus\texit\tseconds\tlimit\tcommand\n' > "$OUT/steps.tsv"
FAILED=0
for step in $STEPS; do
  cmd=$(command_of "$step")
  limit=$(limit_of "$step")
  echo "== $step (limit $limit s): $cmd"
  start=$(date +%s)
  # shellcheck disable=SC2086  # the command is split into words on purpose
  timeout --kill-after=10 "$limit" $cmd > "$OUT/logs/$step.log" 2>&1
  rc=$?
  seconds=$(( $(date +%s) - start ))
  if [ "$rc" = 0 ]; then status=ok
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timed-out; FAILED=1
  else status=failed; FAILED=1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$step" "$status" "$rc" "$seconds" \
    "$limit" "$cmd" >> "$OUT/steps.tsv"
  echo "   $status (exit $rc, $seconds s); log: $OUT/logs/$step.log"
  [ "$status" = ok ] || tail -n 5 "$OUT/logs/$step.log" | sed 's/^/   | /'
done
python -c "import torch; print(torch.__version__, torch.version.cuda, \
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')" \
  > "$OUT/environment.txt" 2>&1
echo "results: $OUT (steps.tsv, logs/)"
exit "$FAILED"
