/*
** bleu.c — corpus BLEU: n-gram statistics, the score, text files, the
** `graphrun bleu` command.
**
** Per sentence, one open-addressing hash table indexes the hypothesis'
** n-grams of every order (an n-gram is an order and a position in the
** hypothesis, compared as token-id tuples).  References are streamed
** through it: an n-gram seen in reference j bumps a per-reference counter
** (reset lazily by a stamp), whose maximum over references is the clip.
** Text is interned to ids with a second hash table, of token strings.
** Everything is linear in the input.
**
** Self-contained (C library only): errors go into an Err through bleu_err.
*/
#include "bleu.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records the first error only, like util.h's err_set.  Returns -1. */
static int bleu_err(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bleu_err(Err *e, const char *fmt, ...) {
  if (e && !e->set) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->set = 1;
  }
  return -1;
}

/* ---- n-gram statistics of one sentence ---------------------------------- */

/* A hypothesis n-gram: its order n and where it starts in the hypothesis,
** its count there, the count in the reference being scanned (valid when
** stamp is that reference's number + 1) and the maximum of that over the
** references scanned so far.  The n-grams sit densely in an array; the hash
** table proper holds 1 + their index there (0: empty), so clearing it and
** summing the clips cost little. */
typedef struct Gram {
  uint32_t start, n, hash, count, cur, maxref, stamp;
} Gram;

#define BLEU_STACK_TOKENS 128           /* hypotheses up to this long: no malloc */

/* The hash of an n-gram extends the hash of its (n-1)-gram prefix by one
** token, so all orders at a position cost one step each. */
static uint64_t ngram_step(uint64_t h, uint32_t tok) {
  h = (h ^ tok) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

/* The table cell for the n-gram key[0..n) with hash h: it holds the n-gram's
** index + 1, or 0 where it would go.  The table is never more than half
** full, so the probe ends. */
static uint32_t *ngram_find(uint32_t *tab, size_t mask, const Gram *gram, const uint32_t *hyp,
                            const uint32_t *key, uint32_t n, uint32_t h) {
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (tab[i] == 0) return &tab[i];
    const Gram *g = &gram[tab[i] - 1];
    if (g->hash != h || g->n != n) continue;
    const uint32_t *t = hyp + g->start;
    uint32_t k = 0;
    while (k < n && t[k] == key[k]) k++;
    if (k == n) return &tab[i];
  }
}

int bleu_sentence_stats(BleuSent hyp, const BleuSent *refs, size_t nrefs,
                        BleuStats *acc, Err *e) {
  if (nrefs == 0 || !refs) return bleu_err(e, "bleu: a hypothesis needs at least one reference");
  if (nrefs >= UINT32_MAX) return bleu_err(e, "bleu: too many references (%zu)", nrefs);
  if (hyp.len && !hyp.tok) return bleu_err(e, "bleu: hypothesis has %zu tokens but no data", hyp.len);
  if (hyp.len >= UINT32_MAX / (4 * BLEU_N))
    return bleu_err(e, "bleu: hypothesis too long (%zu tokens)", hyp.len);
  for (size_t j = 0; j < nrefs; j++)
    if (refs[j].len && !refs[j].tok)
      return bleu_err(e, "bleu: reference %zu has %zu tokens but no data", j + 1, refs[j].len);

  BleuStats s;
  memset(&s, 0, sizeof s);
  s.hyp_len = (int64_t)hyp.len;
  /* Closest reference length; a tie goes to the shorter. */
  size_t best = refs[0].len, bestd = best > hyp.len ? best - hyp.len : hyp.len - best;
  for (size_t j = 1; j < nrefs; j++) {
    size_t l = refs[j].len, d = l > hyp.len ? l - hyp.len : hyp.len - l;
    if (d < bestd || (d == bestd && l < best)) best = l, bestd = d;
  }
  s.ref_len = (int64_t)best;
  for (size_t n = 1; n <= BLEU_N; n++)            /* b_n = max(1, #n-grams) */
    s.total[n - 1] = hyp.len >= n ? (int64_t)(hyp.len - n + 1) : 1;

  /* At most BLEU_N * len distinct n-grams; the table has twice the cells. */
  size_t ngrams = BLEU_N * hyp.len, cap = 16;
  while (cap < 2 * ngrams) cap *= 2;
  uint32_t stab[2 * BLEU_N * BLEU_STACK_TOKENS];
  Gram sgram[BLEU_N * BLEU_STACK_TOKENS];
  uint32_t *tab = stab;
  Gram *gram = sgram;
  if (cap > sizeof stab / sizeof *stab) {
    tab = malloc(cap * sizeof *tab);
    gram = malloc(ngrams * sizeof *gram);
    if (!tab || !gram) {
      free(tab), free(gram);
      return bleu_err(e, "bleu: out of memory (hypothesis of %zu tokens)", hyp.len);
    }
  }
  memset(tab, 0, cap * sizeof *tab);
  size_t mask = cap - 1;
  uint32_t ngram = 0;

  const uint32_t *t = hyp.tok;
  for (size_t i = 0; i < hyp.len; i++) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    uint32_t nmax = hyp.len - i < BLEU_N ? (uint32_t)(hyp.len - i) : BLEU_N;
    for (uint32_t n = 1; n <= nmax; n++) {
      h = ngram_step(h, t[i + n - 1]);
      uint32_t *cell = ngram_find(tab, mask, gram, t, t + i, n, (uint32_t)h);
      if (*cell == 0) {
        gram[ngram] = (Gram){ (uint32_t)i, n, (uint32_t)h, 0, 0, 0, 0 };
        *cell = ++ngram;
      }
      gram[*cell - 1].count++;
    }
  }
  for (size_t j = 0; j < nrefs; j++) {
    const uint32_t *r = refs[j].tok;
    size_t len = refs[j].len;
    uint32_t stamp = (uint32_t)j + 1;
    for (size_t i = 0; i < len; i++) {
      uint64_t h = 0x9e3779b97f4a7c15ull;
      uint32_t nmax = len - i < BLEU_N ? (uint32_t)(len - i) : BLEU_N;
      for (uint32_t n = 1; n <= nmax; n++) {
        h = ngram_step(h, r[i + n - 1]);
        uint32_t *cell = ngram_find(tab, mask, gram, t, r + i, n, (uint32_t)h);
        if (*cell == 0) break;          /* not in the hypothesis, nor its extensions */
        Gram *g = &gram[*cell - 1];
        if (g->stamp != stamp) g->stamp = stamp, g->cur = 0;
        if (++g->cur > g->maxref) g->maxref = g->cur;
      }
    }
  }
  for (uint32_t k = 0; k < ngram; k++)
    s.match[gram[k].n - 1] += gram[k].count < gram[k].maxref ? gram[k].count : gram[k].maxref;
  if (tab != stab) free(tab), free(gram);

  for (int k = 0; k < BLEU_N; k++) acc->match[k] += s.match[k], acc->total[k] += s.total[k];
  acc->hyp_len += s.hyp_len;
  acc->ref_len += s.ref_len;
  return 0;
}

/* ---- the score ------------------------------------------------------------ */

void bleu_score(const BleuStats *st, BleuScore *out) {
  double logsum = 0;
  int all = 1;
  for (int k = 0; k < BLEU_N; k++) {
    out->prec[k] = st->total[k] > 0 ? (double)st->match[k] / (double)st->total[k] : 0.0;
    if (st->match[k] > 0) logsum += log(out->prec[k]) / BLEU_N;
    else all = 0;
  }
  out->hyp_len = st->hyp_len;
  out->ref_len = st->ref_len;
  if (st->hyp_len <= 0) out->bp = 0;
  else if (st->hyp_len > st->ref_len) out->bp = 1;
  else out->bp = exp(1.0 - (double)st->ref_len / (double)st->hyp_len);
  out->bleu = all && st->hyp_len > 0 ? out->bp * exp(logsum) : 0.0;
}

int bleu_corpus(const BleuLine *lines, size_t n, BleuScore *out, Err *e) {
  BleuStats st;
  memset(&st, 0, sizeof st);
  if (n && !lines) return bleu_err(e, "bleu: %zu lines but no data", n);
  for (size_t i = 0; i < n; i++) {
    Err le = {0};
    if (bleu_sentence_stats(lines[i].hyp, lines[i].refs, lines[i].nrefs, &st, &le))
      return bleu_err(e, "line %zu: %s", i + 1, le.msg);
  }
  bleu_score(&st, out);
  return 0;
}

/* ---- text: interning, reading, splitting ---------------------------------- */

/* Token strings -> ids 0, 1, 2, ...  A cell of the hash table packs the
** top 32 bits of a token's hash with 1 + its id (0: empty), so probes stay
** in a small array; the strings point into the file buffers, which outlive
** the vocabulary. */
typedef struct Vocab {
  uint64_t *cell;
  size_t cap;                   /* cells, a power of two, at most half full */
  const char **str;
  size_t *len;
  size_t n, ncap;               /* ids used, allocated */
} Vocab;

static uint64_t str_hash(const char *s, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;                  /* FNV-1a, then a mix */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 32);
}

static void vocab_free(Vocab *v) {
  free(v->cell), free(v->str), free(v->len);
  memset(v, 0, sizeof *v);
}

/* Doubles the table and the string arrays.  -1 when out of memory. */
static int vocab_grow(Vocab *v) {
  size_t cap = v->cap ? v->cap * 2 : 4096, ncap = cap / 2;
  uint64_t *c = calloc(cap, sizeof *c);
  const char **str = realloc(v->str, ncap * sizeof *str);
  if (str) v->str = str;
  size_t *len = realloc(v->len, ncap * sizeof *len);
  if (len) v->len = len;
  if (!c || !str || !len) { free(c); return -1; }
  for (size_t i = 0; i < v->cap; i++) {
    if (!v->cell[i]) continue;
    uint32_t id = (uint32_t)v->cell[i] - 1;
    size_t k = str_hash(v->str[id], v->len[id]) & (cap - 1);
    while (c[k]) k = (k + 1) & (cap - 1);
    c[k] = v->cell[i];
  }
  free(v->cell);
  v->cell = c, v->cap = cap, v->ncap = ncap;
  return 0;
}

/* The id of token s[0..len), added if new.  -1 when out of memory or ids. */
static int vocab_id(Vocab *v, const char *s, size_t len, uint32_t *id) {
  if (v->n >= UINT32_MAX - 1) return -1;
  if (v->n + 1 > v->ncap && vocab_grow(v)) return -1;
  uint64_t h = str_hash(s, len), tag = h >> 32 << 32;
  size_t k = h & (v->cap - 1);
  for (;; k = (k + 1) & (v->cap - 1)) {
    uint64_t c = v->cell[k];
    if (!c) break;
    if ((c >> 32 << 32) != tag) continue;
    uint32_t i = (uint32_t)c - 1;
    if (v->len[i] == len && memcmp(v->str[i], s, len) == 0) { *id = i; return 0; }
  }
  v->str[v->n] = s;
  v->len[v->n] = len;
  v->cell[k] = tag | (v->n + 1);
  *id = (uint32_t)v->n++;
  return 0;
}

void bleu_text_free(BleuText *t) {
  free(t->buf); free(t->at); free(t->len); free(t->line);
  memset(t, 0, sizeof *t);
}

/* Reads all of f into t->buf (no fixed buffers: pipes work too). */
static int read_all(FILE *f, BleuText *t, Err *e) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) return bleu_err(e, "%s: error: out of memory", t->name);
  for (;;) {
    if (len == cap) {
      char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
      if (!nb) { free(buf); return bleu_err(e, "%s: error: out of memory", t->name); }
      buf = nb, cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    int err = errno;
    free(buf);
    return bleu_err(e, "%s: error: cannot read: %s", t->name, err ? strerror(err) : "read error");
  }
  t->buf = buf;
  t->size = len;
  return 0;
}

static int push_tok(BleuText *t, size_t at, size_t len) {
  if (t->ntok == t->tokcap) {
    size_t cap = t->tokcap ? t->tokcap * 2 : 4096;
    size_t *a = cap < SIZE_MAX / sizeof *a ? realloc(t->at, cap * sizeof *a) : NULL;
    if (!a) return -1;
    t->at = a;
    size_t *l = realloc(t->len, cap * sizeof *l);
    if (!l) return -1;
    t->len = l, t->tokcap = cap;
  }
  t->at[t->ntok] = at; t->len[t->ntok++] = len;
  return 0;
}

/* Appends a line boundary (the current token count). */
static int push_line(BleuText *t) {
  if (t->nlines + 1 >= t->linecap) {
    size_t cap = t->linecap ? t->linecap * 2 : 1024;
    size_t *p = cap < SIZE_MAX / sizeof *p ? realloc(t->line, cap * sizeof *p) : NULL;
    if (!p) return -1;
    t->line = p, t->linecap = cap;
  }
  t->line[++t->nlines] = t->ntok;
  return 0;
}

/* Length of the valid UTF-8 sequence at s[0..n) (s[0] >= 0x80), 0 if invalid:
** no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0], lo = 0x80, hi = 0xbf;
  size_t k;
  if (c >= 0xc2 && c <= 0xdf) k = 2;
  else if (c >= 0xe0 && c <= 0xef) { k = 3; if (c == 0xe0) lo = 0xa0; if (c == 0xed) hi = 0x9f; }
  else if (c >= 0xf0 && c <= 0xf4) { k = 4; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
  else return 0;
  if (n < k || s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < k; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return k;
}

static int is_blank(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits t->buf into lines and tokens, checking UTF-8.  Returns 0, or -1
** with "name:line: error: ..." in e. */
static int text_split(BleuText *t, Err *e) {
  const unsigned char *b = (const unsigned char *)t->buf;
  size_t n = t->size, i = 0, lineno = 1;
  if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf) i = 3;   /* BOM */
  size_t bol = i;                                   /* where this line begins */
  t->line = malloc(1024 * sizeof *t->line);
  if (!t->line) return bleu_err(e, "%s: error: out of memory", t->name);
  t->linecap = 1024;
  t->line[0] = 0;
  while (i < n) {
    unsigned char c = b[i];
    if (c == '\n') {
      if (push_line(t)) return bleu_err(e, "%s: error: out of memory", t->name);
      bol = ++i;
      lineno++;
      continue;
    }
    if (is_blank(c)) { i++; continue; }
    size_t start = i;
    while (i < n) {
      c = b[i];
      if (c < 0x80) {
        if (c == '\n' || is_blank(c)) break;
        i++;
      } else {
        size_t k = utf8_len(b + i, n - i);
        if (!k)
          return bleu_err(e, "%s:%zu: error: invalid UTF-8 (byte 0x%02x at column %zu)",
                          t->name, lineno, c, i - bol + 1);
        i += k;
      }
    }
    if (push_tok(t, start, i - start)) return bleu_err(e, "%s:%zu: error: out of memory", t->name, lineno);
  }
  if (bol < n && push_line(t))                    /* a last line without '\n' */
    return bleu_err(e, "%s: error: out of memory", t->name);
  return 0;
}

int bleu_text_read(BleuText *t, const char *path, Err *e) {
  memset(t, 0, sizeof *t);
  int in = strcmp(path, "-") == 0;
  t->name = in ? "<stdin>" : path;
  FILE *f = in ? stdin : fopen(path, "rb");
  if (!f) return bleu_err(e, "%s: error: cannot open: %s", path, strerror(errno));
  int rc = read_all(f, t, e);
  if (!in) fclose(f);
  if (!rc) rc = text_split(t, e);
  if (rc) bleu_text_free(t);
  return rc;
}

/* One file as token ids: line i is tok[line[i] .. line[i+1]). */
typedef struct Text { BleuText f; uint32_t *tok; } Text;

static void text_free(Text *t) { bleu_text_free(&t->f); free(t->tok); t->tok = NULL; }

/* Reads one file and interns its tokens in v. */
static int text_load(Text *t, const char *path, Vocab *v, Err *e) {
  t->tok = NULL;
  if (bleu_text_read(&t->f, path, e)) return -1;
  t->tok = malloc((t->f.ntok ? t->f.ntok : 1) * sizeof *t->tok);
  if (!t->tok) return bleu_err(e, "%s: error: out of memory", t->f.name);
  for (size_t j = 0; j < t->f.ntok; j++)
    if (vocab_id(v, t->f.buf + t->f.at[j], t->f.len[j], &t->tok[j])) return bleu_err(e, "%s: error: out of memory", t->f.name);
  return 0;
}

int bleu_files(const char *hyp_path, const char *const *ref_paths, size_t nrefs,
               BleuScore *out, Err *e) {
  if (nrefs == 0 || !ref_paths) return bleu_err(e, "bleu: needs at least one reference file");
  if (nrefs >= UINT32_MAX) return bleu_err(e, "bleu: too many reference files");
  Vocab v = {0};
  Text *t = calloc(nrefs + 1, sizeof *t);
  BleuSent *refs = calloc(nrefs, sizeof *refs);
  int rc = -1;
  if (!t || !refs) { bleu_err(e, "bleu: out of memory"); goto done; }
  for (size_t j = 0; j <= nrefs; j++) {
    if (text_load(&t[j], j ? ref_paths[j - 1] : hyp_path, &v, e)) goto done;
    if (t[j].f.nlines != t[0].f.nlines) {
      bleu_err(e, "%s: error: has %zu line%s, %s has %zu", t[j].f.name, t[j].f.nlines,
               t[j].f.nlines == 1 ? "" : "s", t[0].f.name, t[0].f.nlines);
      goto done;
    }
  }
  BleuStats st;
  memset(&st, 0, sizeof st);
  for (size_t i = 0; i < t[0].f.nlines; i++) {
    for (size_t j = 0; j < nrefs; j++) {
      const Text *r = &t[j + 1];
      refs[j] = (BleuSent){ r->tok + r->f.line[i], r->f.line[i + 1] - r->f.line[i] };
    }
    BleuSent hyp = { t[0].tok + t[0].f.line[i], t[0].f.line[i + 1] - t[0].f.line[i] };
    Err le = {0};
    if (bleu_sentence_stats(hyp, refs, nrefs, &st, &le)) {
      bleu_err(e, "%s:%zu: error: %s", t[0].f.name, i + 1, le.msg);
      goto done;
    }
  }
  bleu_score(&st, out);
  rc = 0;
done:
  if (t)
    for (size_t j = 0; j <= nrefs; j++) text_free(&t[j]);
  free(t);
  free(refs);
  vocab_free(&v);
  return rc;
}

/* ---- the command ---------------------------------------------------------- */

static const char bleu_usage[] =
  "usage: graphrun bleu [--json] HYP REF [REF ...]\n"
  "\n"
  "Corpus BLEU of the hypothesis file HYP against one or more reference files:\n"
  "one sentence per line (line i of every REF is a reference for line i of HYP;\n"
  "an empty line is an empty sentence), tokens separated by spaces or tabs,\n"
  "UTF-8, LF or CRLF line ends.  BLEU-4 with uniform weights, clipped n-gram\n"
  "counts, the closest reference length (ties: the shorter) for the brevity\n"
  "penalty, no smoothing -- the same number as NLTK's corpus_bleu (where NLTK\n"
  "gives a tiny number for a corpus with no matching 4-gram, this gives 0).\n"
  "A file name '-' reads standard input.\n"
  "\n"
  "  --json    print {\"bleu\": B, \"precisions\": [p1, p2, p3, p4], \"bp\": BP,\n"
  "            \"hyp_len\": H, \"ref_len\": R} with full double precision\n"
  "  --help    print this help\n"
  "\n"
  "Exit status: 0 done, 1 bad input (unreadable file, invalid UTF-8, files of\n"
  "different lengths), 2 bad usage.\n";

/* Prints a usage error on stderr.  Returns the exit status 2. */
static int bleu_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bleu_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "graphrun bleu: error: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'graphrun bleu --help')\n");
  va_end(ap);
  return 2;
}

int bleu_main(int argc, char **argv) {
  int json = 0, opts = 1, nfiles = 0, nstdin = 0;
  const char **files = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *files);
  if (!files) { fprintf(stderr, "graphrun bleu: error: out of memory\n"); return 1; }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (opts && strcmp(a, "--") == 0) opts = 0;
    else if (opts && strcmp(a, "--json") == 0) json = 1;
    else if (opts && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
      free(files);
      fputs(bleu_usage, stdout);
      return 0;
    } else if (opts && a[0] == '-' && a[1]) {
      free(files);
      return bleu_usage_error("unknown option '%s'", a);
    } else {
      nstdin += strcmp(a, "-") == 0;
      files[nfiles++] = a;
    }
  }
  if (nfiles < 2) {
    free(files);
    return bleu_usage_error("needs a hypothesis file and at least one reference file");
  }
  if (nstdin > 1) {
    free(files);
    return bleu_usage_error("standard input ('-') can be read only once");
  }

  BleuScore s;
  Err e = {0};
  int rc = bleu_files(files[0], files + 1, (size_t)nfiles - 1, &s, &e);
  free(files);
  if (rc) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  if (json)
    printf("{\"bleu\": %.17g, \"precisions\": [%.17g, %.17g, %.17g, %.17g], \"bp\": %.17g, "
           "\"hyp_len\": %lld, \"ref_len\": %lld}\n",
           s.bleu, s.prec[0], s.prec[1], s.prec[2], s.prec[3], s.bp,
           (long long)s.hyp_len, (long long)s.ref_len);
  else
    printf("BLEU = %.4f  p1..p4 = %.4f/%.4f/%.4f/%.4f  BP = %.4f  hyp_len = %lld  ref_len = %lld\n",
           s.bleu, s.prec[0], s.prec[1], s.prec[2], s.prec[3], s.bp,
           (long long)s.hyp_len, (long long)s.ref_len);
  if (fflush(stdout) || ferror(stdout)) {
    fprintf(stderr, "graphrun bleu: error: cannot write the result: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}
