#!/usr/bin/env bash
# Everything that needs CUDA, in one call (about 8 minutes on one H200):
#   1. pytest    python -m pytest -m gpu             (the GPU tests)
#   2. layers    dsgdn bench layers --device cuda    (the layer suite)
#   3. blocks    dsgdn bench --device cuda           (the block suite)
#   4. train     a short real dsgdn train --device cuda on IEMOCAP text
# Each step has its own time limit, its log is kept in <out>/logs/<step>.log,
# a failing or timed-out step does not stop the others, and the script exits
# 1 at the end when any step failed (steps.tsv says which). Ctrl-C (SIGINT)
# or SIGTERM stops the running step and the script: one line, exit 130 or
# 143, the step listed as interrupted in steps.tsv.
#
# Usage: benchmarks/gpu.sh [--device cuda|cpu] [--out DIR] [--overwrite]
#                          [--dry-run]
#   --device D    cuda (the default) or cpu: cpu runs the same steps on the
#                 CPU at tiny sizes (the test of this script's logic).
#   --out DIR     the output folder, new or empty (a relative DIR is taken
#                 from the current folder). Default: with --device cuda
#                 benchmarks/results/cuda-<GPU name> (torch's name of the
#                 GPU, lower case, dashes), with --device cpu
#                 benchmarks/results/gpu-sh-cpu-check (both in the
#                 repository).
#   --overwrite   run in a folder that holds an earlier run of this script
#                 (refused without it), passing --overwrite to the dsgdn
#                 steps: each step's results replace the earlier ones; a
#                 step that fails keeps the earlier run's in its folder.
#   --dry-run     checks the options and the output folder, prints the
#                 steps and writes nothing.
#   -h, --help    prints this help.
# Options are checked before anything runs: a bad one is refused with a
# one-line error naming it, exit 2. Time limits (whole seconds, 1 to
# 999999999) can be changed with LIMIT_PYTEST, LIMIT_LAYERS, LIMIT_BLOCKS,
# LIMIT_TRAIN;
# IEMOCAP is read from $IEMOCAP (default: $DSGDN_DATA/iemocap, the datasets
# folder; unset: ../shared/data/iemocap).
set -u

fail() {  # a one-line error, exit 2: before anything ran
  echo "gpu.sh: $*" >&2
  exit 2
}
absolute() {  # a path given from the caller's folder, kept valid after cd
  case "$1" in
    /*) echo "$1" ;;
    *) echo "$PWD/$1" ;;
  esac
}

DEVICE=cuda
OUT=""
OVERWRITE=0
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device)
      [ $# -ge 2 ] || fail "--device: expected cuda or cpu after it, got" \
                           "nothing"
      DEVICE=$2; shift 2 ;;
    --device=*) DEVICE=${1#*=}; shift ;;
    --out)
      [ $# -ge 2 ] || fail "--out: expected a folder after it, got nothing"
      case "$2" in
        -*) fail "--out: expected a folder after it, got the option '$2'" ;;
      esac
      OUT=$2; [ -n "$OUT" ] || fail "--out: expected a folder, got ''"
      shift 2 ;;
    --out=*) OUT=${1#*=}; [ -n "$OUT" ] || fail "--out: expected a folder," \
                                                "got ''"
      shift ;;
    --overwrite) OVERWRITE=1; shift ;;
    --dry-run) DRY=1; shift ;;
    --overwrite=*|--dry-run=*|--help=*)
      fail "${1%%=*}: takes no value, got '$1'" ;;
    -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) fail "unknown option '$1' (expected --device, --out, --overwrite," \
            "--dry-run or --help)" ;;
  esac
done
case "$DEVICE" in
  cuda|cpu) ;;
  *) fail "--device: expected cuda or cpu, got '$DEVICE'" ;;
esac
for name in LIMIT_PYTEST LIMIT_LAYERS LIMIT_BLOCKS LIMIT_TRAIN; do
  value=${!name-}
  [ -n "${!name+set}" ] || continue
  case "$value" in
    ''|*[!0-9]*|??????????*) ok=0 ;;  # not digits, or 10 and more
    *) [ "$((10#$value))" -ge 1 ] && ok=1 || ok=0 ;;
  esac
  [ "$ok" = 1 ] || fail "$name: expected a whole number of seconds from 1" \
                        "to 999999999, got '$value'"
  printf -v "$name" '%d' "$((10#$value))"
done
# Paths the caller gave are taken from the caller's folder; the defaults
# are the repository's.
[ -z "$OUT" ] || OUT=$(absolute "$OUT")
if [ -n "${IEMOCAP:-}" ]; then IEMOCAP=$(absolute "$IEMOCAP")
elif [ -n "${DSGDN_DATA:-}" ]; then IEMOCAP=$(absolute "$DSGDN_DATA/iemocap")
else IEMOCAP=../shared/data/iemocap
fi
cd "$(dirname "$0")/.." || fail "cannot enter the repository root"

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
# The output folder: checked before the first step, not after minutes of it.
if [ -e "$OUT" ] && [ ! -d "$OUT" ]; then
  fail "output folder $OUT: is not a folder (expected a new or empty" \
       "folder; --out DIR chooses another)"
elif [ -d "$OUT" ] && [ -n "$(ls -A -- "$OUT" 2>/dev/null)" ]; then
  if [ ! -f "$OUT/steps.tsv" ]; then
    fail "output folder $OUT: holds files that gpu.sh did not write (no" \
         "steps.tsv); expected a new or empty folder (--out DIR)"
  elif [ "$OVERWRITE" = 0 ]; then
    fail "output folder $OUT: holds an earlier run of gpu.sh; pass" \
         "--overwrite to replace its results, or --out DIR for a new folder"
  fi
fi

if [ "$DEVICE" = cuda ]; then
  PYTEST_ARGS=(-m gpu tests)
  LAYERS_ARGS=()
  BLOCKS_ARGS=(--repeats 5)
  TRAIN_ARGS=(--data "$IEMOCAP" --modalities t --input-dims data --epochs 5
              --seed 1)
  : "${LIMIT_PYTEST:=60}" "${LIMIT_LAYERS:=150}" "${LIMIT_BLOCKS:=180}" \
    "${LIMIT_TRAIN:=60}"
else
  # The same steps at tiny sizes: checks this script, not the GPU.
  PYTEST_ARGS=(-m gpu tests/test_cuda.py)
  LAYERS_ARGS=(--quick --cases random-100k --layers gat,diff --repeats 1
               --warmup 0)
  BLOCKS_ARGS=(--lengths 6,12 --windows 2 --repeats 1 --warmup 0
               --channels 16 --no-e2e --no-huge)
  TRAIN_ARGS=(--synthetic-dialogues 12 --hidden 32 --epochs 1 --seed 1)
  : "${LIMIT_PYTEST:=120}" "${LIMIT_LAYERS:=180}" "${LIMIT_BLOCKS:=120}" \
    "${LIMIT_TRAIN:=120}"
fi
# An earlier run's results are replaced only when the caller asked.
REPLACE=()
[ "$OVERWRITE" = 0 ] || REPLACE=(--overwrite)

STEPS="pytest layers blocks train"
command_of() {  # sets CMD to the words of step $1's command
  case "$1" in
    pytest) CMD=(python -m pytest -q -p no:cacheprovider "${PYTEST_ARGS[@]}") ;;
    layers) CMD=(dsgdn bench layers --device "$DEVICE" --out "$OUT/layers"
                 ${REPLACE[@]+"${REPLACE[@]}"}
                 ${LAYERS_ARGS[@]+"${LAYERS_ARGS[@]}"}) ;;
    blocks) CMD=(dsgdn bench --device "$DEVICE" --out "$OUT/blocks"
                 ${REPLACE[@]+"${REPLACE[@]}"} "${BLOCKS_ARGS[@]}") ;;
    train) CMD=(dsgdn train --device "$DEVICE" --out "$OUT/train"
                ${REPLACE[@]+"${REPLACE[@]}"} "${TRAIN_ARGS[@]}") ;;
  esac
}
shown() {  # the words of CMD as a shell would read them
  local word words=""
  for word in "${CMD[@]}"; do
    case "$word" in
      ''|*[!A-Za-z0-9_,./:=+@%-]*) word="'${word//\'/\'\\\'\'}'" ;;
    esac
    words="$words${words:+ }$word"
  done
  echo "$words"
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
    command_of "$step"
    echo "$step (limit $(limit_of "$step") s): $(shown)"
  done
  exit 0
fi

# Ctrl-C or SIGTERM: the running step is stopped (timeout passes SIGTERM on
# to it, SIGKILL 10 s later), listed as interrupted, and the script exits.
STEP="" CHILD="" START=0
interrupted() {  # $1: the signal's name, $2: the exit code
  trap '' INT TERM
  if [ -n "$CHILD" ]; then
    kill -TERM "$CHILD" 2>/dev/null
    wait "$CHILD" 2>/dev/null
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$STEP" interrupted "$2" \
      "$(( $(date +%s) - START ))" "$(limit_of "$STEP")" "$(shown)" \
      >> "$OUT/steps.tsv"
    echo "gpu.sh: interrupted ($1) during step $STEP; results so far:" \
         "$OUT (steps.tsv, logs/)" >&2
  else
    echo "gpu.sh: interrupted ($1)" >&2
  fi
  exit "$2"
}
trap 'interrupted SIGINT 130' INT
trap 'interrupted SIGTERM 143' TERM

mkdir -p "$OUT/logs" || fail "output folder $OUT: cannot create it"
printf 'step\tstatus\texit\tseconds\tlimit\tcommand\n' > "$OUT/steps.tsv" ||
  fail "output folder $OUT: cannot write steps.tsv there"
FAILED=0
for step in $STEPS; do
  command_of "$step"
  limit=$(limit_of "$step")
  echo "== $step (limit $limit s): $(shown)"
  STEP=$step START=$(date +%s)
  # In the background, so that a trapped signal ends the wait at once.
  timeout --kill-after=10 "$limit" "${CMD[@]}" > "$OUT/logs/$step.log" 2>&1 &
  CHILD=$!
  wait "$CHILD"
  rc=$?
  CHILD=""
  seconds=$(( $(date +%s) - START ))
  if [ "$rc" = 0 ]; then status=ok
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timed-out; FAILED=1
  else status=failed; FAILED=1
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$step" "$status" "$rc" "$seconds" \
    "$limit" "$(shown)" >> "$OUT/steps.tsv"
  echo "   $status (exit $rc, $seconds s); log: $OUT/logs/$step.log"
  [ "$status" = ok ] || tail -n 5 "$OUT/logs/$step.log" | sed 's/^/   | /'
done
STEP=""
python -c "import torch; print(torch.__version__, torch.version.cuda, \
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')" \
  > "$OUT/environment.txt" 2>&1
echo "results: $OUT (steps.tsv, logs/)"
exit "$FAILED"
