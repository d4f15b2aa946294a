#!/bin/sh
# bench/tfm.sh — the Transformer LM (models/transformer_lm.g) against the
# tfm mode of this directory's PyTorch reference (bench/torch_ref.py), and on
# the whole Brown corpus (issue 15's targets).  bench/run calls it last
# (`make bench`); alone (`make bench-tfm`):
#
#   bench/tfm.sh                                   (REF= : graphrun only; REF=other.py: another reference)
#   FAST=1 bench/tfm.sh                            (1 epoch, seed 1111, no Brown: minutes)
#
# 1. data/, SMALL_EPOCHS (10) epochs, seeds 1111, 1, 2: graphrun's valid
#    perplexity must lie within the reference's range over the same seeds.
# 2. The same runs, paired (graphrun, then the reference, seed by seed):
#    graphrun's tokens/s over the reference's (target: >= 5x) and the peak
#    RSS of each (target: graphrun's lower), both under the same OpenBLAS.
# 3. One epoch of the whole Brown corpus at d = 128 and 256 (graphrun):
#    tokens/s and GFLOP/s as a share of the sgemm peak: the best of this
#    script's measurements at its start and end (with KEEP_PEAK=1, as
#    bench/run passes, added to that run's own instead).
# Logs in $OUT/tfm-*; the table (bench/tfm_report.py) on stdout and in
# $OUT/tfm_table.md.
set -eu
cd "$(dirname "$0")/.."
ME=bench/tfm.sh
. bench/common.sh
OUT=${OUT:-bench/out}
THREADS=${THREADS:-2}
FAST=${FAST:-0}
SMALL_EPOCHS=${SMALL_EPOCHS:-10}
SEEDS=${SEEDS:-"1111 1 2"}
FULL=${FULL:-1}
REF=${REF-bench/torch_ref.py}
PY=/usr/bin/python3
if [ "$FAST" = 1 ]; then SMALL_EPOCHS=1; SEEDS=1111; FULL=0; fi
mkdir -p "$OUT"
[ -x ./graphrun ] || make graphrun
# Both programs on graphrun's kernel (bench/run sets it already; alone, as there).
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  OPENBLAS_CORETYPE=$(graphrun_kernel)
  [ -n "$OPENBLAS_CORETYPE" ] && export OPENBLAS_CORETYPE || unset OPENBLAS_CORETYPE
fi

TORCH=1
if [ -z "$REF" ]; then TORCH=0; echo "bench/tfm.sh: REF is empty: graphrun only"
elif [ ! -f "$REF" ]; then echo "bench/tfm.sh: REF=$REF: no such file" >&2; exit 2
elif ! $PY -c 'import torch' 2>/dev/null; then TORCH=0; echo "bench/tfm.sh: python3-torch is missing (make deps-bench): graphrun only"; fi
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} threads=$THREADS epochs=$SMALL_EPOCHS seeds=$SEEDS" > "$OUT/tfm-env.txt"
lscpu | grep -E '^Model name' >> "$OUT/tfm-env.txt" || true
# The peak: bench/run's measurements (KEEP_PEAK=1), or this run's own.
if [ "${KEEP_PEAK:-0}" != 1 ]; then rm -f "$OUT/sgemm_peak" "$OUT/sgemm.txt" "$OUT/handoff" "$OUT/handoff.txt"; measure_peak > /dev/null; fi


for s in $SEEDS; do
  run "tfm-graphrun-small-$s" env OPENBLAS_NUM_THREADS="$THREADS" ./graphrun models/transformer_lm.g --train \
    --epochs "$SMALL_EPOCHS" --seed "$s" --threads "$THREADS" --quiet
  if [ $TORCH = 1 ]; then
    run "tfm-pytorch-small-$s" env OPENBLAS_NUM_THREADS="$THREADS" $PY "$REF" --data data --mode tfm \
      --epochs "$SMALL_EPOCHS" --seed "$s" --threads "$THREADS"
  fi
done

if [ "$FULL" = 1 ]; then
  [ -f data/brown/train.txt ] || data/prepare --brown
  for d in 128 256; do
    run "tfm-graphrun-brown-$d" env OPENBLAS_NUM_THREADS="$THREADS" ./graphrun "bench/models/transformer_brown_$d.g" \
      --train --epochs 1 --threads "$THREADS" --quiet
  done
fi

measure_peak > /dev/null                     # again at the end: the report keeps the best
$PY bench/tfm_report.py "$OUT" | tee "$OUT/tfm_table.md"
