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
#    tokens/s and GFLOP/s as a share of the sgemm peak measured here.
# Logs in $OUT/tfm-*; the table (bench/tfm_report.py) on stdout and in
# $OUT/tfm_table.md.
set -eu
cd "$(dirname "$0")/.."
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
  OPENBLAS_CORETYPE=$(./graphrun --version | sed -n 's/^blas: .*, kernel \([^ ]*\) .*/\1/p')
  [ -n "$OPENBLAS_CORETYPE" ] && export OPENBLAS_CORETYPE || unset OPENBLAS_CORETYPE
fi

TORCH=1
if [ -z "$REF" ]; then TORCH=0; echo "bench/tfm.sh: REF is empty: graphrun only"
elif [ ! -f "$REF" ]; then echo "bench/tfm.sh: REF=$REF: no such file" >&2; exit 2
elif ! $PY -c 'import torch' 2>/dev/null; then TORCH=0; echo "bench/tfm.sh: python3-torch is missing (make deps-bench): graphrun only"; fi
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} threads=$THREADS epochs=$SMALL_EPOCHS seeds=$SEEDS" > "$OUT/tfm-env.txt"
lscpu | grep -E '^Model name' >> "$OUT/tfm-env.txt" || true
[ -x "$OUT/sgemm_peak" ] || cc -O2 bench/sgemm_peak.c $(pkg-config --cflags openblas 2>/dev/null) -o "$OUT/sgemm_peak" \
  $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
[ -f "$OUT/sgemm.txt" ] || OPENBLAS_NUM_THREADS=$THREADS "$OUT/sgemm_peak" > "$OUT/sgemm.txt"

run() {   # NAME CMD...: one timed run, log in $OUT/NAME.log, peak RSS in $OUT/NAME.time
  name=$1; shift
  echo "-- $name: $* (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  if ! /usr/bin/time -v -o "$OUT/$name.time" "$@" > "$OUT/$name.log" 2>&1; then
    echo "bench/tfm.sh: $name failed, see $OUT/$name.log" >&2; tail -5 "$OUT/$name.log" >&2; return 1
  fi
  grep -E '^epoch' "$OUT/$name.log" | tail -1
}

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

# The peak again at the end (the report keeps the best of all measured in $OUT).
OPENBLAS_NUM_THREADS=$THREADS "$OUT/sgemm_peak" >> "$OUT/sgemm.txt"
$PY bench/tfm_report.py "$OUT" | tee "$OUT/tfm_table.md"
