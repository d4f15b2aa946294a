#!/bin/sh
# dist_fault.sh GRAPHRUN MPIRUN... — a process of a training job dies: the job
# ends, the last checkpoint is intact, and a resumed job continues from it.
# Run by tests/test_dist.c from the repository root; exit 0 when all holds,
# else 1 with the reason on stderr.
#
# The tiny lm (no dropout) on data/: epochs of a fraction of a second, so the
# kill lands in the middle of one (or of a checkpoint write, which is atomic).
GR=$1; shift
MPIRUN="$*"
dir=$(mktemp -d /tmp/gr_faultXXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
fail() { echo "dist_fault: $*" >&2; exit 1; }
sed 's#tests/data/tiny-#data/#g' tests/data/tiny_lm_exact.g > "$dir/m.g"
ck="$dir/ck.bin"

GR_FAULT_TAG=$dir $MPIRUN -np 2 "$GR" "$dir/m.g" --train --epochs 1000000 --batch 10 --vbatch 10 --threads 1 --quiet --checkpoint "$ck" \
  >"$dir/out1" 2>"$dir/err1" &
mp=$!
i=0
while [ ! -f "$ck" ]; do
  i=$((i + 1)); [ $i -le 600 ] || { kill $mp; fail "no checkpoint after 60 s"; }
  kill -0 $mp 2>/dev/null || fail "the job ended before its first checkpoint: $(cat "$dir/err1")"
  sleep 0.1
done
sleep 0.3                                        # into the next epoch
victim=""                                        # rank 1 of this job: its environment says so
for p in /proc/[0-9]*; do
  env=$(tr '\0' '\n' 2>/dev/null < $p/environ) || continue
  echo "$env" | grep -qx "GR_FAULT_TAG=$dir" && echo "$env" | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=${p#/proc/}
done
[ -n "$victim" ] || { kill $mp; fail "no process of rank 1 under mpirun $mp"; }
kill -9 "$victim"
i=0
while kill -0 $mp 2>/dev/null; do               # mpirun must end the job by itself
  i=$((i + 1)); [ $i -le 300 ] || { kill -9 $mp; fail "the job went on for 30 s after rank 1 died"; }
  sleep 0.1
done
wait $mp && fail "mpirun exited 0 after rank 1 was killed"

# The checkpoint loads (checksum and all), and says where training stood.
"$GR" "$dir/m.g" --resume "$ck" --epochs 0 >"$dir/out2" 2>"$dir/err2" || fail "the checkpoint does not load: $(cat "$dir/err2")"
k=$(sed -n 's/^resuming from .* after epoch \([0-9]*\) .*/\1/p' "$dir/err2")
[ -n "$k" ] && [ "$k" -ge 1 ] || fail "no epoch in: $(cat "$dir/err2")"

# A new job of 2 processes continues from it: two more epochs.
$MPIRUN -np 2 "$GR" "$dir/m.g" --resume "$ck" --epochs $((k + 2)) --batch 10 --vbatch 10 --quiet >"$dir/out3" 2>"$dir/err3" ||
  fail "the resumed job failed: $(cat "$dir/err3")"
grep -q "^resuming from .* after epoch $k " "$dir/err3" || fail "no resume line in: $(cat "$dir/err3")"
grep -q "^epoch *$((k + 2)) " "$dir/err3" || fail "no epoch $((k + 2)) in: $(cat "$dir/err3")"
[ "$(grep -c '^epoch ' "$dir/err3")" -eq 2 ] || fail "expected 2 epoch lines: $(cat "$dir/err3")"
echo "dist_fault: rank 1 killed in epoch $((k + 1)); the job ended; resumed after epoch $k and trained 2 more"
