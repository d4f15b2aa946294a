/*
** corpus.c — vocabulary, reading text files into sentences of ids, and the
** lm-stream and translation-bundle batch iterators.  See corpus.h for the
** contracts; this file explains only how.
**
** Reading is a buffered line reader over a fixed buffer of CORPUS_MAXLINE+2
** bytes, so a huge line is an error, never a huge allocation.  Each line is
** checked for UTF-8 before it is split into tokens.  Words are interned in a
** pool of large blocks and looked up through an open-addressing table.
** Iterators allocate their buffers once at init; _next never allocates.
*/
#include "corpus.h"
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most elements we allocate in one iterator buffer (2^31 int32 = 8 GiB). */
#define MAXELEMS ((size_t)1 << 31)

static int fail(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes the message (if there is a buffer) and returns -1. */
static int fail(char *msg, size_t cap, const char *fmt, ...) {
  if (msg && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ---- string pool ---------------------------------------------------------
** Blocks of at least POOLBLOCK bytes; a string never moves once stored. */
#define POOLBLOCK ((size_t)64 << 10)
struct CorpusPool { struct CorpusPool *next; size_t used, cap; char data[]; };

/* Copies s[0..len) plus a NUL into the pool; NULL on out of memory. */
static char *pool_store(CorpusPool **pp, const char *s, size_t len) {
  CorpusPool *p = *pp;
  if (!p || p->cap - p->used < len + 1) {
    size_t c = len + 1 > POOLBLOCK ? len + 1 : POOLBLOCK;
    CorpusPool *q = malloc(sizeof *q + c);
    if (!q) return NULL;
    q->next = p; q->used = 0; q->cap = c;
    *pp = p = q;
  }
  char *r = p->data + p->used;
  memcpy(r, s, len);
  r[len] = 0;
  p->used += len + 1;
  return r;
}

static void pool_free(CorpusPool *p) {
  while (p) { CorpusPool *n = p->next; free(p); p = n; }
}

/* ---- vocabulary ---------------------------------------------------------- */

/* FNV-1a, 32 bits. */
static uint32_t hash_bytes(const char *s, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) { h ^= (unsigned char)s[i]; h *= 16777619u; }
  return h;
}

/* Slot where w lives, or the empty slot where it would go. */
static uint32_t vocab_probe(const Vocab *v, const char *w, size_t len, uint32_t h) {
  uint32_t mask = v->nslot - 1, i = h & mask;
  for (;;) {
    int32_t id = v->slot[i];
    if (id < 0) return i;
    if (v->hash[id] == h && v->len[id] == len && memcmp(v->words[id], w, len) == 0) return i;
    i = (i + 1) & mask;
  }
}

/* Doubles the table (ids unchanged).  Returns 0 or -1 on out of memory. */
static int vocab_rehash(Vocab *v) {
  uint32_t n = v->nslot * 2;
  int32_t *s = malloc((size_t)n * sizeof *s);
  if (!s) return -1;
  memset(s, 0xff, (size_t)n * sizeof *s);          /* all -1 */
  for (int32_t id = 0; id < v->n; id++) {
    uint32_t i = v->hash[id] & (n - 1);
    while (s[i] >= 0) i = (i + 1) & (n - 1);
    s[i] = id;
  }
  free(v->slot);
  v->slot = s; v->nslot = n;
  return 0;
}

/* Makes room for one more word in words/hash/len.  0 or -1 (out of memory). */
static int vocab_grow(Vocab *v) {
  int32_t c = v->cap ? v->cap * 2 : 64;
  char **w = realloc(v->words, (size_t)c * sizeof *w);
  if (!w) return -1;
  v->words = w;
  uint32_t *h = realloc(v->hash, (size_t)c * sizeof *h);
  if (!h) return -1;
  v->hash = h;
  uint32_t *l = realloc(v->len, (size_t)c * sizeof *l);
  if (!l) return -1;
  v->len = l;
  v->cap = c;
  return 0;
}

int corpus_vocab_init(Vocab *v, char *msg, size_t cap) {
  static const char *special[CORPUS_NSPECIAL] = { "<pad>", "<eos>", "<sos>", "<unk>" };
  memset(v, 0, sizeof *v);
  v->nslot = 256;
  v->slot = malloc(v->nslot * sizeof *v->slot);
  if (!v->slot) return fail(msg, cap, "error: out of memory");
  memset(v->slot, 0xff, v->nslot * sizeof *v->slot);
  for (int i = 0; i < CORPUS_NSPECIAL; i++) {
    int32_t id = corpus_vocab_add(v, special[i], strlen(special[i]), msg, cap);
    if (id < 0) { corpus_vocab_free(v); return -1; }
    assert(id == i);
  }
  return 0;
}

void corpus_vocab_free(Vocab *v) {
  free(v->words); free(v->hash); free(v->len); free(v->slot);
  pool_free(v->pool);
  memset(v, 0, sizeof *v);
}

int32_t corpus_vocab_find(const Vocab *v, const char *w, size_t len) {
  if (!v->slot) return -1;
  return v->slot[vocab_probe(v, w, len, hash_bytes(w, len))];
}

int32_t corpus_vocab_add(Vocab *v, const char *w, size_t len, char *msg, size_t cap) {
  assert(v->slot && "corpus_vocab_init first");
  uint32_t h = hash_bytes(w, len);
  uint32_t i = vocab_probe(v, w, len, h);
  if (v->slot[i] >= 0) return v->slot[i];
  /* Keep the load at most 1/2 (so probing always ends): grow before adding. */
  if ((uint32_t)(v->n + 1) * 2 > v->nslot) {
    if (vocab_rehash(v) < 0) return fail(msg, cap, "error: out of memory");
    i = vocab_probe(v, w, len, h);
  }
  if (v->n >= CORPUS_MAXVOCAB)
    return fail(msg, cap, "error: vocabulary larger than %ld words", (long)CORPUS_MAXVOCAB);
  if (len > UINT32_MAX) return fail(msg, cap, "error: word longer than %lu bytes", (unsigned long)UINT32_MAX);
  if (v->n == v->cap && vocab_grow(v) < 0) return fail(msg, cap, "error: out of memory");
  char *s = pool_store(&v->pool, w, len);
  if (!s) return fail(msg, cap, "error: out of memory");
  int32_t id = v->n++;
  v->words[id] = s; v->hash[id] = h; v->len[id] = (uint32_t)len;
  v->slot[i] = id;
  return id;
}

const char *corpus_vocab_word(const Vocab *v, int32_t id) {
  return id >= 0 && id < v->n ? v->words[id] : NULL;
}

/* ---- reading ------------------------------------------------------------- */

/* Line reader over a fixed buffer: a line that does not fit is an error. */
typedef struct LineReader {
  FILE *f;
  char *buf;
  size_t cap, beg, end;    /* unread bytes are buf[beg..end) */
  int eof;
} LineReader;

/* Next line (without "\n" / "\r\n") in *line, *len.  Returns 1, 0 at end of
** file, -1 if the line is longer than CORPUS_MAXLINE, -2 on a read error. */
static int lr_next(LineReader *r, const char **line, size_t *len) {
  size_t scanned = 0;                       /* bytes of buf[beg..] known to hold no '\n' */
  for (;;) {
    char *nl = memchr(r->buf + r->beg + scanned, '\n', r->end - r->beg - scanned);
    size_t n;
    if (nl) {
      n = (size_t)(nl - (r->buf + r->beg));
      *line = r->buf + r->beg;
      r->beg += n + 1;
    } else if (r->eof) {
      if (r->beg == r->end) return 0;
      n = r->end - r->beg;
      *line = r->buf + r->beg;
      r->beg = r->end;
    } else {
      scanned = r->end - r->beg;
      if (r->beg > 0) {                     /* slide the partial line to the front */
        memmove(r->buf, r->buf + r->beg, scanned);
        r->beg = 0; r->end = scanned;
      }
      if (r->end == r->cap) return -1;      /* full, no '\n': too long even without "\r" */
      size_t got = fread(r->buf + r->end, 1, r->cap - r->end, r->f);
      r->end += got;
      if (got == 0) {
        if (ferror(r->f)) return -2;
        r->eof = 1;
      }
      continue;
    }
    if (n > 0 && (*line)[n - 1] == '\r') n--;
    if (n > CORPUS_MAXLINE) return -1;
    *len = n;
    return 1;
  }
}

/* Checks s[0..n) is UTF-8 (no overlongs, no surrogates, <= U+10FFFF) with no
** NUL.  Returns 0, or the 1-based position of the byte that starts the first
** bad sequence (as Python's decoder reports it), with *nul set for a NUL. */
static size_t utf8_check(const unsigned char *s, size_t n, int *nul) {
  size_t i = 0;
  *nul = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      if (c == 0) { *nul = 1; return i + 1; }
      i++;
      continue;
    }
    size_t k;                               /* continuation bytes */
    unsigned lo = 0x80, hi = 0xbf;          /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) k = 1;
    else if (c == 0xe0) { k = 2; lo = 0xa0; }
    else if (c == 0xed) { k = 2; hi = 0x9f; }  /* no surrogates */
    else if (c >= 0xe1 && c <= 0xef) k = 2;
    else if (c == 0xf0) { k = 3; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) k = 3;
    else if (c == 0xf4) { k = 3; hi = 0x8f; }
    else return i + 1;                      /* 0x80..0xc1, 0xf5..0xff */
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n) return i + 1;         /* truncated at the end of the line */
      unsigned d = s[i + j];
      if (j == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xbf)) return i + 1;
    }
    i += k + 1;
  }
  return 0;
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* Growable arrays of Sents during reading.  0 or -1 (out of memory). */
static int push_id(Sents *s, size_t *cap, int32_t id) {
  if ((size_t)s->ntok == *cap) {
    size_t c = *cap ? *cap * 2 : 4096;
    int32_t *p = realloc(s->ids, c * sizeof *p);
    if (!p) return -1;
    s->ids = p; *cap = c;
  }
  s->ids[s->ntok++] = id;
  return 0;
}

static int push_off(Sents *s, size_t *cap, long off, long lineno) {
  if ((size_t)s->n + 1 == *cap) {           /* off has n+1 entries in use, line n */
    size_t c = *cap * 2;
    long *p = realloc(s->off, c * sizeof *p);
    if (!p) return -1;
    s->off = p;
    p = realloc(s->line, c * sizeof *p);
    if (!p) return -1;
    s->line = p; *cap = c;
  }
  s->line[s->n] = lineno;
  s->off[++s->n] = off;
  return 0;
}

int corpus_read(const char *path, Vocab *v, int grow, Sents *out, char *msg, size_t cap) {
  Sents s;
  memset(&s, 0, sizeof s);
  memset(out, 0, sizeof *out);
  LineReader r;
  memset(&r, 0, sizeof r);
  size_t idcap = 0, offcap = 1024;
  long lineno = 0;
  int rc = -1;

  r.f = fopen(path, "rb");
  if (!r.f) return fail(msg, cap, "%s: error: cannot open: %s", path, strerror(errno));
  r.cap = CORPUS_MAXLINE + 2;               /* room for a longest line and its "\r\n" */
  r.buf = malloc(r.cap);
  s.file = malloc(strlen(path) + 1);
  s.off = malloc(offcap * sizeof *s.off);
  s.line = malloc(offcap * sizeof *s.line);
  if (!r.buf || !s.file || !s.off || !s.line) { fail(msg, cap, "%s: error: out of memory", path); goto done; }
  strcpy(s.file, path);
  s.off[0] = 0;

  for (;;) {
    const char *line;
    size_t len;
    int got = lr_next(&r, &line, &len);
    if (got == 0) break;
    lineno++;
    if (got == -1) {
      fail(msg, cap, "%s:%ld: error: line longer than %lu bytes", path, lineno,
           (unsigned long)CORPUS_MAXLINE);
      goto done;
    }
    if (got == -2) {
      /* EISDIR and friends show up here: fopen succeeds on a directory. */
      fail(msg, cap, "%s: error: cannot read: %s", path, strerror(errno));
      goto done;
    }
    int nul;
    size_t bad = utf8_check((const unsigned char *)line, len, &nul);
    if (bad) {
      fail(msg, cap, "%s:%ld: error: %s at byte %lu", path, lineno,
           nul ? "NUL byte" : "invalid UTF-8", (unsigned long)bad);
      goto done;
    }
    long before = s.ntok;
    int words = 0;
    for (size_t i = 0; i < len;) {
      while (i < len && is_space(line[i])) i++;
      size_t j = i;
      while (j < len && !is_space(line[j])) j++;
      if (j == i) break;
      int32_t id = grow ? corpus_vocab_add(v, line + i, j - i, msg, cap)
                        : corpus_vocab_find(v, line + i, j - i);
      if (id < 0 && grow) {
        /* msg holds "error: ..."; prefix the location. */
        char tail[128];
        snprintf(tail, sizeof tail, "%s", msg ? msg : "");
        fail(msg, cap, "%s:%ld: %s", path, lineno, tail);
        goto done;
      }
      if (id < 0) { id = CORPUS_UNK; s.nunk++; }
      if (push_id(&s, &idcap, id) < 0) { fail(msg, cap, "%s:%ld: error: out of memory", path, lineno); goto done; }
      words++;
      i = j;
    }
    if (words == 0) continue;               /* blank line */
    if (push_off(&s, &offcap, s.ntok, lineno) < 0) { fail(msg, cap, "%s:%ld: error: out of memory", path, lineno); goto done; }
    if (s.ntok - before > s.maxlen) s.maxlen = (int)(s.ntok - before);
  }
  if (s.n == 0) { fail(msg, cap, "%s: error: no sentences (empty or blank file)", path); goto done; }
  *out = s;
  rc = 0;
done:
  if (r.f) fclose(r.f);
  free(r.buf);
  if (rc < 0) corpus_sents_free(&s);
  return rc;
}

void corpus_sents_free(Sents *s) {
  free(s->file); free(s->ids); free(s->off); free(s->line);
  memset(s, 0, sizeof *s);
}

/* ---- lm stream ----------------------------------------------------------- */

int corpus_stream_init(Stream *st, const Sents *s, int B, int bptt, char *msg, size_t cap) {
  memset(st, 0, sizeof *st);
  if (B < 1) return fail(msg, cap, "error: batch size must be at least 1, got %d", B);
  if (bptt < 1) return fail(msg, cap, "error: bptt must be at least 1, got %d", bptt);
  const char *file = s->file ? s->file : "(no file)";
  long total = s->ntok + s->n;              /* every sentence + its <eos> */
  long rows = total / B;
  if (rows < 2)
    return fail(msg, cap, "%s: error: %ld tokens (with <eos>) give fewer than 2 rows for batch %d",
                file, total, B);
  if (rows > INT_MAX || (size_t)rows * (size_t)B > MAXELEMS)
    return fail(msg, cap, "%s: error: %ld tokens are more than a stream can hold", file, total);
  st->mat = malloc((size_t)rows * B * sizeof *st->mat);
  if (!st->mat) return fail(msg, cap, "%s: error: out of memory", file);
  st->B = B; st->bptt = bptt; st->rows = (int)rows;
  /* Walk flat in order: flat position p goes to column p / rows, row p % rows. */
  long p = 0, limit = rows * B;
  for (long k = 0; k < s->n && p < limit; k++) {
    for (long q = s->off[k]; q <= s->off[k + 1] && p < limit; q++, p++) {
      int32_t id = q < s->off[k + 1] ? s->ids[q] : CORPUS_EOS;
      st->mat[(p % rows) * B + p / rows] = id;
    }
  }
  assert(p == limit);
  st->npieces = (rows - 1 + bptt - 1) / bptt;
  return 0;
}

int corpus_stream_next(Stream *st, Batch *b) {
  int i = st->next_row;
  if (!st->mat || i >= st->rows - 1) return 0;
  int n = st->rows - 1 - i < st->bptt ? st->rows - 1 - i : st->bptt;
  memset(b, 0, sizeof *b);
  b->T = n; b->B = st->B;
  b->x = st->mat + (size_t)i * st->B;
  b->y = st->mat + (size_t)(i + 1) * st->B;
  b->ntok = (long)n * st->B;
  b->first = i == 0;
  b->bundle = -1;
  st->next_row = st->bptt > INT_MAX - i ? INT_MAX : i + st->bptt;
  return 1;
}

void corpus_stream_reset(Stream *st) { st->next_row = 0; }

void corpus_stream_free(Stream *st) {
  free(st->mat);
  memset(st, 0, sizeof *st);
}

/* ---- translation bundles ------------------------------------------------- */

/* Group g (of B consecutive slots of the sentence order): its size, and
** the sentence in its slot j.  Without bucketing, slot = file line. */
static int group_size(const Bundles *bu, long g) {
  long n = bu->tgt->n - g * bu->B;
  return (int)(n < bu->B ? n : bu->B);
}
static long group_sent(const Bundles *bu, long g, int j) {
  long slot = g * bu->B + j;
  return bu->order ? bu->order[slot] : slot;
}
static long sent_len(const Sents *s, long l) { return s->off[l + 1] - s->off[l]; }

/* Rows of group g's target: its longest sentence + <sos> and <eos>. */
static int group_rows(const Bundles *bu, long g) {
  int tl = 0, Bk = group_size(bu, g);
  for (int j = 0; j < Bk; j++) {
    int ty = (int)sent_len(bu->tgt, group_sent(bu, g, j)) + 2;
    if (ty > tl) tl = ty;
  }
  return tl;
}

/* Builds bundle k (the k-th of the pass) into tmat/smat/slen. */
static void bundle_build(Bundles *bu, long k) {
  const Sents *S = bu->src, *T = bu->tgt;
  long g = bu->perm ? bu->perm[k] : k;
  int Bk = group_size(bu, g), tl = group_rows(bu, g), Ts = 0;
  for (int j = 0; j < Bk; j++) {
    int sx = (int)sent_len(S, group_sent(bu, g, j));
    if (sx > Ts) Ts = sx;
  }
  memset(bu->tmat, 0, (size_t)tl * Bk * sizeof *bu->tmat);   /* CORPUS_PAD == 0 */
  memset(bu->smat, 0, (size_t)Ts * Bk * sizeof *bu->smat);
  for (int j = 0; j < Bk; j++) {
    long l = group_sent(bu, g, j);
    const int32_t *y = T->ids + T->off[l];
    int ny = (int)sent_len(T, l);
    bu->tmat[j] = CORPUS_SOS;
    for (int t = 0; t < ny; t++) bu->tmat[(size_t)(t + 1) * Bk + j] = y[t];
    bu->tmat[(size_t)(ny + 1) * Bk + j] = CORPUS_EOS;
    const int32_t *x = S->ids + S->off[l];
    int nx = (int)sent_len(S, l);
    for (int t = 0; t < nx; t++) bu->smat[(size_t)t * Bk + j] = x[t];
    bu->slen[j] = nx;
  }
  bu->bundle = k; bu->tl = tl; bu->Ts = Ts; bu->Bk = Bk; bu->next_row = 0;
}

/* Pieces per pass and the padded target grid, for the current order. */
static void bundles_count(Bundles *bu) {
  bu->npieces = 0; bu->grid = 0;
  for (long g = 0; g < bu->nbundles; g++) {   /* pieces: ceil((tl-1)/bptt) per bundle */
    long tl = group_rows(bu, g);
    bu->npieces += (tl - 1 + bu->bptt - 1) / bu->bptt;
    bu->grid += (tl - 1) * group_size(bu, g);
  }
}

int corpus_bundles_init(Bundles *bu, const Sents *src, const Sents *tgt, int B, int bptt,
                        char *msg, size_t cap) {
  memset(bu, 0, sizeof *bu);
  if (B < 1) return fail(msg, cap, "error: batch size must be at least 1, got %d", B);
  if (bptt < 1) return fail(msg, cap, "error: bptt must be at least 1, got %d", bptt);
  if (src->n != tgt->n)
    return fail(msg, cap, "error: %s has %ld sentences but %s has %ld",
                src->file ? src->file : "(source)", src->n, tgt->file ? tgt->file : "(target)", tgt->n);
  assert(src->n > 0);                       /* corpus_read never returns an empty file */
  size_t tcap = (size_t)tgt->maxlen + 2, scap = (size_t)src->maxlen;
  if (tcap * (size_t)B > MAXELEMS || scap * (size_t)B > MAXELEMS)
    return fail(msg, cap, "error: batch %d of sentences up to %d tokens is too large", B,
                tgt->maxlen > src->maxlen ? tgt->maxlen : src->maxlen);
  bu->tmat = malloc(tcap * B * sizeof *bu->tmat);
  bu->smat = malloc(scap * B * sizeof *bu->smat);
  bu->slen = malloc((size_t)B * sizeof *bu->slen);
  if (!bu->tmat || !bu->smat || !bu->slen) {
    corpus_bundles_free(bu);
    return fail(msg, cap, "error: out of memory");
  }
  bu->src = src; bu->tgt = tgt; bu->B = B; bu->bptt = bptt;
  bu->nbundles = (tgt->n + B - 1) / B;
  bundles_count(bu);
  bu->bundle = -1;
  return 0;
}

/* Sort key of a sentence pair: target length, then source length, then line. */
typedef struct LenKey { long t, s, line; } LenKey;
static int len_cmp(const void *a, const void *b) {
  const LenKey *x = a, *y = b;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  if (x->s != y->s) return x->s < y->s ? -1 : 1;
  return (x->line > y->line) - (x->line < y->line);
}

int corpus_bundles_bucket(Bundles *bu, int window, char *msg, size_t cap) {
  long n = bu->tgt->n, span = (long)(window > 0 ? window : 1) * bu->B;
  LenKey *k = malloc((size_t)n * sizeof *k);
  bu->order = malloc((size_t)n * sizeof *bu->order);
  bu->perm = malloc((size_t)bu->nbundles * sizeof *bu->perm);
  if (!k || !bu->order || !bu->perm) { free(k); corpus_bundles_free(bu); return fail(msg, cap, "error: out of memory"); }
  for (long l = 0; l < n; l++) k[l] = (LenKey){ sent_len(bu->tgt, l), sent_len(bu->src, l), l };
  for (long w = 0; w < n; w += span) qsort(k + w, (size_t)(n - w < span ? n - w : span), sizeof *k, len_cmp);
  for (long l = 0; l < n; l++) bu->order[l] = k[l].line;
  free(k);
  corpus_bundles_shuffle(bu, 0);
  bundles_count(bu);
  return 0;
}

/* splitmix64: a portable, seedable sequence for the shuffle */
static uint64_t mix_next(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void corpus_bundles_shuffle(Bundles *bu, uint64_t seed) {
  if (!bu->perm) return;
  for (long g = 0; g < bu->nbundles; g++) bu->perm[g] = g;
  if (seed)                                 /* Fisher-Yates */
    for (long g = bu->nbundles - 1; g > 0; g--) {
      long r = (long)(mix_next(&seed) % (uint64_t)(g + 1)), t = bu->perm[g];
      bu->perm[g] = bu->perm[r]; bu->perm[r] = t;
    }
  corpus_bundles_reset(bu);
}

int corpus_bundles_next(Bundles *bu, Batch *b) {
  if (!bu->tmat) return 0;
  if (bu->bundle < 0 || bu->next_row >= bu->tl - 1) {
    if (bu->bundle + 1 >= bu->nbundles) return 0;
    bundle_build(bu, bu->bundle + 1);
  }
  int i = bu->next_row, Bk = bu->Bk;
  int n = bu->tl - 1 - i < bu->bptt ? bu->tl - 1 - i : bu->bptt;
  memset(b, 0, sizeof *b);
  b->T = n; b->B = Bk;
  b->x = bu->tmat + (size_t)i * Bk;
  b->y = bu->tmat + (size_t)(i + 1) * Bk;
  long k = 0;
  for (size_t q = 0; q < (size_t)n * Bk; q++) k += b->y[q] != CORPUS_PAD;
  b->ntok = k;
  b->first = i == 0;
  b->Ts = bu->Ts; b->src = bu->smat; b->src_len = bu->slen;
  b->bundle = bu->bundle;
  bu->next_row = bu->bptt > INT_MAX - i ? INT_MAX : i + bu->bptt;
  return 1;
}

void corpus_bundles_reset(Bundles *bu) {
  bu->bundle = -1; bu->next_row = 0; bu->tl = bu->Ts = bu->Bk = 0;
}

void corpus_bundles_free(Bundles *bu) {
  free(bu->tmat); free(bu->smat); free(bu->slen); free(bu->order); free(bu->perm);
  memset(bu, 0, sizeof *bu);
}
