# bench/common.sh — shell functions bench/run and bench/tfm.sh share (sourced;
# they set OUT, THREADS and ME, the script's name for messages).

# The OpenBLAS kernel graphrun runs on (its --version); empty if it names none.
graphrun_kernel() {
  ./graphrun --version | sed -n 's/^blas: .*, kernel \([^ ]*\) .*/\1/p'
}

# One more measurement of the sgemm peak, appended to $OUT/sgemm.txt and
# shown (bench/sgemm_peak.c, built once per $OUT).  The reports divide by the
# best of all the measurements in that file.  measure_peak LABEL writes
# "at: LABEL" before it ("before NAME" and "after NAME" around a run: the
# report sets that run against those two as well).
# With it, the round trip of a cache line between two of the CPUs
# (bench/handoff.c), appended to $OUT/handoff.txt: on a virtual machine it
# tells an hour whose two vCPUs share a cache from one whose do not.
measure_peak() {
  [ -x "$OUT/sgemm_peak" ] || cc -O2 bench/sgemm_peak.c $(pkg-config --cflags openblas 2>/dev/null) \
    -o "$OUT/sgemm_peak" $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
  [ -x "$OUT/handoff" ] || cc -std=c11 -O2 -pthread bench/handoff.c -o "$OUT/handoff"
  [ -z "${1:-}" ] || echo "at: $1" >> "$OUT/sgemm.txt"
  OPENBLAS_NUM_THREADS=$THREADS "$OUT/sgemm_peak" | tee -a "$OUT/sgemm.txt"
  "$OUT/handoff" | tee -a "$OUT/handoff.txt"
}

# run NAME CMD...: one timed run, its log in $OUT/NAME.log and its peak RSS
# in $OUT/NAME.time; prints the last epoch line.
run() {
  name=$1; shift
  echo "-- $name: $* (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  if ! /usr/bin/time -v -o "$OUT/$name.time" "$@" > "$OUT/$name.log" 2>&1; then
    echo "$ME: $name failed, see $OUT/$name.log" >&2; tail -5 "$OUT/$name.log" >&2; return 1
  fi
  grep -E '^epoch' "$OUT/$name.log" | tail -1
}
