#!/bin/sh
# bench/bleu.sh — times `graphrun bleu` against NLTK's corpus_bleu on a
# generated corpus (default 100k lines, one reference; seeded, so every run
# scores the same text).  Prints both times, the ratio and both scores.
#
#   GRAPHRUN=./graphrun LINES=100000 REFS=1 SEED=1 sh bench/bleu.sh
set -eu
GRAPHRUN=${GRAPHRUN:-./graphrun}
LINES=${LINES:-100000}
REFS=${REFS:-1}
SEED=${SEED:-1}
PY=/usr/bin/python3
[ -x "$GRAPHRUN" ] || { echo "bench/bleu.sh: $GRAPHRUN not built (make)" >&2; exit 1; }
$PY -c 'import nltk' 2>/dev/null || { echo "bench/bleu.sh: python3-nltk missing (make deps)" >&2; exit 1; }
dir=${KEEP:-}
[ -n "$dir" ] && mkdir -p "$dir" || { dir=$(mktemp -d /tmp/bleu_bench.XXXXXX); trap 'rm -rf "$dir"' EXIT; }

# Hypotheses of 1..50 tokens from a Zipf-like 20k-word vocabulary; each
# reference is its hypothesis with ~25% of tokens replaced, dropped or added.
$PY - "$dir" "$LINES" "$REFS" "$SEED" <<'PYEOF'
import itertools, random, sys
d, n, m, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
V = 20000
cum = list(itertools.accumulate(1.0 / (k + 1) for k in range(V)))
words = ["w%d" % k for k in range(V)]
def draw(k):
    return rng.choices(words, cum_weights=cum, k=k)
hyps = [draw(rng.randint(1, 50)) for _ in range(n)]
with open(d + "/hyp.txt", "w") as f:
    for h in hyps:
        f.write(" ".join(h) + "\n")
for j in range(m):
    with open(d + "/ref%d.txt" % j, "w") as f:
        for h in hyps:
            r = []
            for t in h:
                u = rng.random()
                if u < 0.10: r.append(draw(1)[0])
                elif u < 0.18: pass
                elif u < 0.25: r += [t] + draw(1)
                else: r.append(t)
            f.write(" ".join(r) + "\n")
PYEOF
refs=$(i=0; while [ $i -lt "$REFS" ]; do printf ' %s/ref%d.txt' "$dir" $i; i=$((i+1)); done)
echo "corpus: $LINES lines, $REFS reference(s), $(wc -w < "$dir/hyp.txt") hypothesis tokens"

now() { date +%s.%N; }
t0=$(now)
# shellcheck disable=SC2086
ours=$("$GRAPHRUN" bleu --json "$dir/hyp.txt" $refs)
t1=$(now)
# shellcheck disable=SC2086
theirs=$($PY - "$dir/hyp.txt" $refs <<'PYEOF'
import sys, warnings
from nltk.translate.bleu_score import corpus_bleu
def lines(p):
    with open(p, "rb") as f:
        return [l.split() for l in f.read().split(b"\n")[:-1]]
hyps = lines(sys.argv[1])
refs = [lines(p) for p in sys.argv[2:]]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    print(repr(corpus_bleu([list(r) for r in zip(*refs)], hyps)))
PYEOF
)
t2=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v ours="$ours" -v theirs="$theirs" 'BEGIN {
  g = b - a; n = c - b
  printf "graphrun bleu: %.3f s   %s\n", g, ours
  printf "NLTK corpus_bleu: %.3f s   bleu = %s\n", n, theirs
  printf "ratio: graphrun is %.1fx faster (wall time, reading included)\n", n / g
}'
