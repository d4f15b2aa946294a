#!/bin/sh
# bench/dist.sh — data-parallel training over Open MPI (docs/distributed.md),
# run by bench/run (DIST=0 skips it) or alone: sh bench/dist.sh
#
# 1. The reduction alone (bench/allreduce.c): one MPI_Allreduce of the
#    gradients of lm and cond_lm at d = 100 and 256, V = 10k, between 2
#    processes over shared memory and over TCP on loopback.
# 2. Training: 2 processes x 1 thread against 1 process x 2 threads, the
#    tokens/s of the epoch line, in turns (A B A B ...), RUNS times; the
#    median ratio (target >= 0.8).  lm at d = 100 on data/, and at d = 256 on
#    the Brown slice when bench/run has made it (bench/data/brown).
# Logs and the table go to $OUT (bench/out).
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out}
RUNS=${RUNS:-3}
mkdir -p "$OUT"
[ -x ./graphrun ] || make graphrun >/dev/null
MPIRUN="mpirun --oversubscribe"
[ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
echo "== distributed: MPI_Allreduce of the gradients, 2 processes ($(lscpu | sed -n 's/^Model name: *//p')) =="

# Gradient floats + 1 (the token count).  An lstm(in = d, hidden = d,
# layers = 2) holds 2 (8 d^2 + 4 d) values; E [V, d] and bout [V] the rest.
V=10000
lstm() { echo $((16 * $1 * $1 + 8 * $1)); }
sizes=""
for d in 100 256; do
  sizes="$sizes lm-d$d=$((V * d + V + $(lstm $d) + 1)) cond_lm-d$d=$((V * d + V + 2 * $(lstm $d) + 1))"
done
mpicc -O2 bench/allreduce.c -o "$OUT/allreduce"
{
  echo "# shared memory (vader)"
  $MPIRUN -np 2 "$OUT/allreduce" $sizes
  echo "# TCP over loopback"
  $MPIRUN -np 2 --mca btl self,tcp --mca btl_tcp_if_include lo "$OUT/allreduce" $sizes
} | tee "$OUT/allreduce.txt"

echo "== distributed: training, 2 processes x 1 thread (A) against 1 process x 2 threads (B) =="
tokps() { sed -n 's/^epoch .* \([0-9][0-9]*\) tok\/s$/\1/p' "$1" | tail -n 1; }
compare() {            # compare NAME MODEL EPOCHS
  name=$1 model=$2 ep=$3 ratios=""
  for i in $(seq "$RUNS"); do
    OPENBLAS_NUM_THREADS=1 $MPIRUN -np 2 ./graphrun "$model" --train --epochs "$ep" --threads 1 --quiet > "$OUT/dist-$name-A$i.log" 2>&1
    OPENBLAS_NUM_THREADS=2 ./graphrun "$model" --train --epochs "$ep" --threads 2 --quiet > "$OUT/dist-$name-B$i.log" 2>&1
    a=$(tokps "$OUT/dist-$name-A$i.log") b=$(tokps "$OUT/dist-$name-B$i.log")
    ratios="$ratios $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')"
    echo "  $name run $i: A $a tok/s, B $b tok/s (load $(cut -d' ' -f1 /proc/loadavg))"
  done
  med=$(echo $ratios | tr ' ' '\n' | sort -n | awk '{ r[NR] = $1 } END { print r[int((NR + 1) / 2)] }')
  echo "$name: 2 processes x 1 thread / 1 process x 2 threads = ${med}x tokens/s (median of$ratios; target >= 0.8)" | tee -a "$OUT/dist.txt"
}
: > "$OUT/dist.txt"
compare lm-d100-data models/lm.g 1
[ -f bench/data/brown/train.txt ] && compare lm-d256-brown bench/models/lm_brown_256.g 1
true
