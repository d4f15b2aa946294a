#!/usr/bin/python3
"""bleu_nltk.py HYP REF [REF ...] -- NLTK's corpus BLEU of text files, the
reference that tests/test_bleu.c and bench/bleu.sh compare graphrun against.

Files are read the way graphrun reads them: bytes, one sentence per line
(a last line may lack its newline; a leading UTF-8 BOM is skipped), tokens
split on ASCII whitespace (bytes.split()).  Prints one line:

    bleu p1 p2 p3 p4 bp hyp_len ref_len

bleu is nltk.translate.bleu_score.corpus_bleu (default weights, no
smoothing) printed with repr (full precision); p1..p4, bp and the lengths
come from NLTK's own modified_precision, brevity_penalty and
closest_ref_length, summed the way corpus_bleu sums them.
Exit status: 0 done, 1 bad input, 3 NLTK missing.
"""
import sys
import warnings


def read_lines(path):
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line.split() for line in lines]


def main(argv):
    if len(argv) < 3:
        sys.stderr.write("usage: bleu_nltk.py HYP REF [REF ...]\n")
        return 1
    try:
        from nltk.translate import bleu_score as B
    except ImportError as exc:
        sys.stderr.write("bleu_nltk.py: error: NLTK is missing (%s); "
                         "install python3-nltk (make deps)\n" % exc)
        return 3
    hyps = read_lines(argv[1])
    refs = [read_lines(p) for p in argv[2:]]
    for p, r in zip(argv[2:], refs):
        if len(r) != len(hyps):
            sys.stderr.write("%s: has %d lines, %s has %d\n" % (p, len(r), argv[1], len(hyps)))
            return 1
    if not hyps:
        sys.stderr.write("%s: empty corpus (NLTK's corpus_bleu divides 0 by 0)\n" % argv[1])
        return 1
    list_of_refs = [[r[i] for r in refs] for i in range(len(hyps))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # NLTK warns when some p_n is 0
        bleu = B.corpus_bleu(list_of_refs, hyps)
    num = [0] * 4
    den = [0] * 4
    hyp_len = ref_len = 0
    for rs, h in zip(list_of_refs, hyps):
        for n in range(1, 5):
            p = B.modified_precision(rs, h, n)
            num[n - 1] += p.numerator
            den[n - 1] += p.denominator
        hyp_len += len(h)
        ref_len += B.closest_ref_length(rs, len(h))
    bp = B.brevity_penalty(ref_len, hyp_len)
    prec = [num[i] / den[i] if den[i] else 0.0 for i in range(4)]
    print(" ".join([repr(float(bleu))] + [repr(p) for p in prec]
                   + [repr(float(bp)), str(hyp_len), str(ref_len)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
