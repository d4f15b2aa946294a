/*
** bleu.h — corpus BLEU (Papineni et al. 2002), the way NLTK's corpus_bleu
** computes it with uniform weights and no smoothing.
**
** Sentences are arrays of token ids (intern strings first; bleu_files does
** that for text files).  Counting is hash based and linear in the total
** length of hypotheses and references.  Nothing here calls util.c: errors go
** into a caller's Err (util.h's type) through bleu.c's own helper.
*/
#ifndef GR_BLEU_H
#define GR_BLEU_H
#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define BLEU_N 4                      /* n-gram orders 1..4 */

/* One sentence: len token ids (tok may be NULL when len is 0). */
typedef struct BleuSent { const uint32_t *tok; size_t len; } BleuSent;

/* One line of a corpus: a hypothesis and its nrefs >= 1 references. */
typedef struct BleuLine { BleuSent hyp; const BleuSent *refs; size_t nrefs; } BleuLine;

/* Sufficient statistics, summed over sentences.  match[n-1] is the clipped
** n-gram count a_n, total[n-1] is b_n = max(1, number of n-grams of the
** hypothesis); ref_len sums the reference lengths closest to each
** hypothesis length (a tie goes to the shorter).  Start from all zeros. */
typedef struct BleuStats {
  int64_t match[BLEU_N], total[BLEU_N];
  int64_t hyp_len, ref_len;
} BleuStats;

/* The score.  prec[n-1] = match/total (0 when total is 0); bp is the brevity
** penalty; bleu is 0 (never NaN) when some prec is 0 or hyp_len is 0. */
typedef struct BleuScore {
  double bleu, prec[BLEU_N], bp;
  int64_t hyp_len, ref_len;
} BleuScore;

/* Adds one sentence's statistics to *acc.  Returns 0; or -1 with a message
** in e (e may be NULL) when nrefs is 0, a token pointer is NULL with a
** non-zero length, or memory runs out.  On error *acc is unchanged. */
int bleu_sentence_stats(BleuSent hyp, const BleuSent *refs, size_t nrefs,
                        BleuStats *acc, Err *e);

/* Turns summed statistics into the score.  Never fails. */
void bleu_score(const BleuStats *st, BleuScore *out);

/* Corpus BLEU of n lines (n may be 0: everything is 0).  Returns 0 and fills
** *out; or -1 with a message in e (naming the 1-based line) as for
** bleu_sentence_stats, *out then untouched. */
int bleu_corpus(const BleuLine *lines, size_t n, BleuScore *out, Err *e);

/* A text file split into lines of tokens, as `graphrun bleu` and
** --translate read files: "\n" ends a line (a "\r" before it is blank
** space), a last line may lack it, a leading UTF-8 byte-order mark is
** skipped, tokens are separated by ASCII blanks and must be valid UTF-8.
** Token j is buf[at[j] .. at[j] + len[j]); line i holds tokens line[i] ..
** line[i+1]. */
typedef struct BleuText {
  const char *name;          /* the path, or "<stdin>" */
  char *buf; size_t size;
  size_t *at, *len, ntok, tokcap;
  size_t *line, nlines, linecap;
} BleuText;
/* Reads and splits path ("-": standard input): 0, or -1 with
** "path:line: error: ..." in e and nothing held. */
int  bleu_text_read(BleuText *t, const char *path, Err *e);
void bleu_text_free(BleuText *t);

/* Corpus BLEU of text files: one sentence per line, tokens separated by
** ASCII whitespace, "\r\n" or "\n" line ends, a last line with or without its
** newline, a leading UTF-8 BOM skipped, "-" for standard input.  All files
** must have as many lines as hyp_path.  Returns 0; or -1 with a one-line
** message in e naming the file (and line): unreadable file, invalid UTF-8,
** different line counts, out of memory. */
int bleu_files(const char *hyp_path, const char *const *ref_paths, size_t nrefs,
               BleuScore *out, Err *e);

/* The command `graphrun bleu [--json] HYP REF [REF ...]`; argv[0] is "bleu".
** Prints the score on stdout.  Returns the exit status: 0 done, 1 a user
** error (message on stderr), 2 a usage error. */
int bleu_main(int argc, char **argv);

#endif
