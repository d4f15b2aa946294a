/*
** corpus.h — text corpora for the sequence trainers: a vocabulary (word <->
** id), files read into sentences of ids, and the two batch iterators of the
** PyTorch reference (bench/torch_ref.py): a continuous stream cut into
** bptt pieces (lm mode) and padded sentence-pair bundles (cond/attn modes).
**
** Self-contained (C library only).  Functions that can fail on user input
** return -1 and write one line into the caller's buffer msg[cap], naming the
** file and line: "data/x.txt:17: error: invalid UTF-8 at byte 5".
** Out of memory is reported the same way ("error: out of memory").
** Nothing here aborts; assert() guards our own invariants only.
*/
#ifndef GR_CORPUS_H
#define GR_CORPUS_H
#include <stddef.h>
#include <stdint.h>

/* Fixed ids of the special tokens; words follow from CORPUS_NSPECIAL on. */
enum { CORPUS_PAD = 0, CORPUS_EOS = 1, CORPUS_SOS = 2, CORPUS_UNK = 3, CORPUS_NSPECIAL = 4 };

/* Longest line accepted, in bytes, not counting its "\n" or "\r\n". */
#define CORPUS_MAXLINE ((size_t)1 << 20)
/* Most distinct words a vocabulary may hold (ids stay far from INT32_MAX). */
#define CORPUS_MAXVOCAB ((int32_t)1 << 26)

typedef struct CorpusPool CorpusPool;          /* string storage, private */

/* Vocabulary: id -> word in words[], word -> id by an open-addressing hash
** table (linear probing, load <= 1/2).  Word strings are interned in a pool
** and stay put until corpus_vocab_free. */
typedef struct Vocab {
  int32_t n, cap;          /* words held (specials included), room in words/hash/len */
  char **words;            /* words[id], NUL-terminated */
  uint32_t *hash, *len;    /* per id: hash of the word, its length in bytes */
  int32_t *slot;           /* table of nslot entries: an id, or -1 if empty */
  uint32_t nslot;          /* a power of two */
  CorpusPool *pool;
} Vocab;

/* Sentences of one file as ids: sentence i is ids[off[i] .. off[i+1]). */
typedef struct Sents {
  char *file;              /* copy of the path, for messages */
  long n;                  /* sentences (non-blank lines) */
  long ntok;               /* tokens in all sentences (no <eos>/<sos> counted) */
  long nunk;               /* words not in the vocabulary, read as <unk> (grow = 0) */
  int32_t *ids;
  long *off;               /* n + 1 entries */
  long *line;              /* n entries: the file's line (1-based) of each sentence */
  int maxlen;              /* longest sentence, in tokens */
} Sents;

/* One piece handed to the trainer.  All id arrays are time-major [T,B]:
** element (t, b) is at [t*B + b].  They point into the iterator's own
** buffers (allocated once at init): valid until the next call to _next,
** _reset or _free of that iterator; read-only for the caller. */
typedef struct Batch {
  int T, B;                /* rows (time steps) and columns of x and y */
  const int32_t *x, *y;    /* inputs and targets; y is x one step later */
  long ntok;               /* targets that count: T*B in lm mode, non-<pad> in translation */
  int first;               /* 1 for the first piece of a stream (lm) or of a bundle
                              (translation): where the decoder starts from the encoder */
  /* translation only (NULL / 0 in lm mode): */
  int Ts;                  /* source rows = longest source sentence in the bundle */
  const int32_t *src;      /* [Ts,B], padded with CORPUS_PAD */
  const int32_t *src_len;  /* [B], each >= 1 */
  long bundle;             /* index of the bundle (0-based) */
} Batch;

/* Continuous stream (lm mode), as the reference's stream() + bptt loop:
** every sentence followed by <eos>, all concatenated into `flat`; with
** rows = len(flat) / B (the remainder is dropped), column b holds
** flat[b*rows .. (b+1)*rows) and mat is [rows,B].  Piece k starts at row
** i = k*bptt and has n = min(bptt, rows-1-i) rows: x = mat rows i..i+n-1,
** y = rows i+1..i+n. */
typedef struct Stream {
  int B, bptt, rows;
  int32_t *mat;            /* [rows,B] */
  int next_row;            /* where the next piece starts */
  long npieces;            /* pieces per pass */
} Stream;

/* Translation bundles (cond/attn mode), as the reference's bundles():
** bundle k pairs source and target sentences k*B .. k*B+Bk-1 (Bk = B except
** maybe for the last).  Target column j is <sos> y_j <eos> padded with
** <pad> to the bundle's longest (tl rows); sources padded likewise (Ts
** rows), with their lengths.  The target is cut into pieces of
** n = min(bptt, tl-1-i) rows at i = 0, bptt, 2*bptt, ... < tl-1. */
typedef struct Bundles {
  const Sents *src, *tgt;  /* borrowed: must outlive the iterator */
  int B, bptt;
  int32_t *tmat, *smat, *slen;   /* the current bundle, sized for the largest */
  int tl, Ts, Bk;          /* current bundle's target rows, source rows, columns */
  long bundle;             /* current bundle index, -1 before the first */
  int next_row;            /* where the current bundle's next piece starts */
  long nbundles, npieces;  /* per pass */
  long grid;               /* target cells per pass, (rows-1) x columns: padding included */
  long *order;             /* bucketed: the sentence in each slot (NULL: file order) */
  long *perm;              /* bucketed: the group of B slots each bundle of a pass reads */
} Bundles;

/* Starts a vocabulary holding the four specials (ids 0..3: <pad> <eos>
** <sos> <unk>).  Returns 0, or -1 "error: out of memory". */
int corpus_vocab_init(Vocab *v, char *msg, size_t cap);
/* Frees everything; v may be zeroed or already freed.  Safe to call twice. */
void corpus_vocab_free(Vocab *v);
/* Id of word w[0..len) or -1 if absent.  w need not be NUL-terminated. */
int32_t corpus_vocab_find(const Vocab *v, const char *w, size_t len);
/* Id of w, adding it with the next id if new.  Returns the id, or -1 with
** "error: out of memory" / "error: vocabulary larger than N words" in msg.
** w must not contain NUL bytes (corpus_read never passes one). */
int32_t corpus_vocab_add(Vocab *v, const char *w, size_t len, char *msg, size_t cap);
/* Word of an id, or NULL if id is out of range. */
const char *corpus_vocab_word(const Vocab *v, int32_t id);

/* Reads PATH: one sentence per line, tokens separated by ASCII whitespace
** (space, \t, \v, \f, \r); "\n" or "\r\n" ends a line; blank lines are
** skipped (as the reference's `if l.strip()`).  Differences from Python's
** reading, on purpose: a lone "\r" is whitespace, not a line end; non-ASCII
** spaces (U+00A0...) are part of words; a byte-order mark is not special
** (it is part of the first word, as with open(path) in the reference).
** With grow != 0 unseen words
** join v in order of first appearance (training files); with grow == 0 they
** read as <unk> and are counted in out->nunk (evaluation files).
** Returns 0 with *out filled (free with corpus_sents_free), or -1 with *out
** zeroed and one of these in msg:
**   PATH: error: cannot open: <strerror>       (also: cannot read)
**   PATH: error: no sentences (empty or blank file)
**   PATH:L: error: invalid UTF-8 at byte K     (K = 1-based byte in line L)
**   PATH:L: error: NUL byte at byte K
**   PATH:L: error: line longer than 1048576 bytes
**   PATH:L: error: vocabulary larger than 67108864 words   (also: out of memory) */
int corpus_read(const char *path, Vocab *v, int grow, Sents *out, char *msg, size_t cap);
void corpus_sents_free(Sents *s);

/* Lays out the stream of s for B columns and pieces of bptt rows.
** Returns 0, or -1 with msg: B or bptt < 1, too few tokens for two rows
** ("PATH: error: 7 tokens (with <eos>) give fewer than 2 rows for batch 20"),
** out of memory.  The stream copies what it needs: s may be freed after. */
int corpus_stream_init(Stream *st, const Sents *s, int B, int bptt, char *msg, size_t cap);
/* Fills b with the next piece and returns 1, or returns 0 at the end of the
** pass (b untouched).  Never allocates. */
int corpus_stream_next(Stream *st, Batch *b);
void corpus_stream_reset(Stream *st);          /* back to the first piece */
void corpus_stream_free(Stream *st);           /* safe on a zeroed or freed stream */

/* Pairs src line l with tgt line l.  Returns 0, or -1 with msg: B or bptt
** < 1, "error: data/src-train.txt has 999 sentences but data/train.txt has
** 1000", out of memory.  src and tgt are borrowed (not copied). */
int corpus_bundles_init(Bundles *bu, const Sents *src, const Sents *tgt, int B, int bptt,
                        char *msg, size_t cap);
/* Fills b with the next piece (building the next bundle when the current
** one is used up) and returns 1, or returns 0 at the end of the pass.
** b->first is 1 on each bundle's first piece.  Never allocates. */
int corpus_bundles_next(Bundles *bu, Batch *b);
/* Length buckets (`batching = bucket`): within windows of `window` x B
** sentences in file order, the pairs are sorted by target length (then
** source length, then line), and each B consecutive ones form a bundle, so
** a bundle is padded little.  The bundles are then read in the order of
** corpus_bundles_shuffle.  Returns 0, or -1 "error: out of memory" (bu freed). */
int corpus_bundles_bucket(Bundles *bu, int window, char *msg, size_t cap);
/* Bucketed only: the order of the bundles for the next pass, a permutation
** drawn from seed (0: sorted order); also resets the iterator. */
void corpus_bundles_shuffle(Bundles *bu, uint64_t seed);
void corpus_bundles_reset(Bundles *bu);
void corpus_bundles_free(Bundles *bu);

#endif
