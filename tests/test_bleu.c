/*
** test_bleu.c — tests of src/bleu.c: hand-checked cases, a brute-force
** counter, NLTK's corpus_bleu (tests/bleu_nltk.py, Debian's python3-nltk) on
** generated corpora, and the `graphrun bleu` command run as a process
** (GRAPHRUN names the binary; default ./graphrun).  Run from the repository
** root, as `make check` does.
*/
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bleu.h"

#define NLTK_SCRIPT "tests/bleu_nltk.py"

/* ---- helpers -------------------------------------------------------------- */

/* Words -> ids for hand-written sentences (linear search; tests are tiny). */
static char words[512][32];
static int nwords;

static uint32_t word_id(const char *w, size_t len) {
  for (int i = 0; i < nwords; i++)
    if (strlen(words[i]) == len && memcmp(words[i], w, len) == 0) return (uint32_t)i;
  ck_assert_int_lt(nwords, 512);
  ck_assert_uint_lt(len, sizeof words[0]);
  memcpy(words[nwords], w, len);
  words[nwords][len] = 0;
  return (uint32_t)nwords++;
}

/* A sentence from space-separated words; the ids live in a static pool
** (each test runs in its own process). */
static BleuSent sent(const char *text) {
  static uint32_t pool[4096];
  static size_t used;
  ck_assert_uint_le(used + strlen(text), sizeof pool / sizeof pool[0]);
  uint32_t *ids = pool + used;
  size_t n = 0;
  for (const char *p = text; *p;) {
    while (*p == ' ') p++;
    const char *q = p;
    while (*q && *q != ' ') q++;
    if (q > p) ids[n++] = word_id(p, (size_t)(q - p));
    p = q;
  }
  used += n;
  return (BleuSent){ ids, n };
}

static BleuStats stats_of(const char *hyp, const char *ref) {
  BleuStats st = {0};
  BleuSent r = sent(ref);
  Err e = {0};
  ck_assert_int_eq(bleu_sentence_stats(sent(hyp), &r, 1, &st, &e), 0);
  return st;
}

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {                 /* xorshift64*: uniform-ish in [0, n) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)(((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n);
}

static char tmpdir[64];

static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/test_bleu.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Writes data to tmpdir/name; returns the path (static, one of 8 buffers). */
static const char *put_file(const char *name, const char *data, size_t len) {
  static char paths[8][128];
  static int k;
  char *p = paths[k++ % 8];
  snprintf(p, 128, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
  return p;
}
static const char *put_str(const char *name, const char *s) { return put_file(name, s, strlen(s)); }

/* Runs a shell command; its stdout goes to out (NUL-terminated), stderr to
** err.  Returns the exit status; fails the test if it died of a signal. */
static int run(const char *cmd, char *out, size_t outn, char *err, size_t errn) {
  char full[4096], errpath[128];
  snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);
  snprintf(full, sizeof full, "%s 2>'%s'", cmd, errpath);
  FILE *p = popen(full, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = fread(out, 1, outn - 1, p);
  out[n] = 0;
  while (fgetc(p) != EOF) {}
  int st = pclose(p);
  ck_assert_msg(st != -1, "pclose failed");
  ck_assert_msg(!WIFSIGNALED(st), "'%s' died of signal %d", cmd, WTERMSIG(st));
  FILE *f = fopen(errpath, "rb");
  ck_assert_ptr_nonnull(f);
  n = fread(err, 1, errn - 1, f);
  err[n] = 0;
  fclose(f);
  ck_assert_msg(WIFEXITED(st), "'%s' did not exit", cmd);
  return WEXITSTATUS(st);
}

/* ---- hand-checked cases --------------------------------------------------- */

/* NLTK's corpus_bleu documentation example: 3 references, then 1. */
START_TEST(test_nltk_doc_example) {
  BleuSent r1[3] = {
    sent("It is a guide to action that ensures that the military will forever heed Party commands"),
    sent("It is the guiding principle which guarantees the military forces always being under the command of the Party"),
    sent("It is the practical guide for the army always to heed the directions of the party"),
  };
  BleuSent r2[1] = { sent("he was interested in world history because he read the book") };
  BleuLine lines[2] = {
    { sent("It is a guide to action which ensures that the military always obeys the commands of the party"), r1, 3 },
    { sent("he read the book because he was interested in world history"), r2, 1 },
  };
  BleuScore s;
  Err e = {0};
  ck_assert_int_eq(bleu_corpus(lines, 2, &s, &e), 0);
  ck_assert_double_eq_tol(s.bleu, 0.5920778868801042, 1e-12);
  ck_assert_int_eq(s.hyp_len, 29);
  ck_assert_int_eq(s.ref_len, 29);
  ck_assert_double_eq(s.bp, 1.0);
  ck_assert_double_eq_tol(s.prec[0], 28.0 / 29, 1e-15);
}
END_TEST

/* Clipping: "the" 7 times against a reference with 2 "the": p1 = 2/7. */
START_TEST(test_clipping) {
  BleuStats st = stats_of("the the the the the the the", "the cat is on the mat");
  ck_assert_int_eq(st.match[0], 2);
  ck_assert_int_eq(st.total[0], 7);
  ck_assert_int_eq(st.match[1], 0);
  BleuScore s;
  bleu_score(&st, &s);
  ck_assert_double_eq(s.prec[0], 2.0 / 7);
  ck_assert_double_eq(s.bleu, 0.0);            /* p2 = 0: exactly 0 */
  /* The clip is the maximum over references, not the sum. */
  BleuSent refs[2] = { sent("the cat the"), sent("the the the dog") };
  BleuStats st2 = {0};
  ck_assert_int_eq(bleu_sentence_stats(sent("the the the the the"), refs, 2, &st2, NULL), 0);
  ck_assert_int_eq(st2.match[0], 3);
  ck_assert_int_eq(st2.match[1], 2);            /* "the the" twice in the second */
}
END_TEST

/* Fewer tokens than n: b_n = 1, a_n = 0, and BLEU is 0, not NaN. */
START_TEST(test_short_hypothesis) {
  BleuStats st = stats_of("a b", "a b");
  int64_t want_m[4] = { 2, 1, 0, 0 }, want_t[4] = { 2, 1, 1, 1 };
  for (int k = 0; k < 4; k++) {
    ck_assert_int_eq(st.match[k], want_m[k]);
    ck_assert_int_eq(st.total[k], want_t[k]);
  }
  BleuScore s;
  bleu_score(&st, &s);
  ck_assert(!isnan(s.bleu));
  ck_assert_double_eq(s.bleu, 0.0);
  ck_assert_double_eq(s.bp, 1.0);

  BleuStats e0 = stats_of("", "a b c");           /* empty hypothesis */
  for (int k = 0; k < 4; k++) ck_assert_int_eq(e0.total[k], 1);
  ck_assert_int_eq(e0.ref_len, 3);
  bleu_score(&e0, &s);
  ck_assert_double_eq(s.bp, 0.0);
  ck_assert_double_eq(s.bleu, 0.0);

  bleu_score(&(BleuStats){0}, &s);                /* empty corpus */
  ck_assert_double_eq(s.bleu, 0.0);
  ck_assert_double_eq(s.prec[0], 0.0);
  ck_assert_double_eq(s.bp, 0.0);
}
END_TEST

/* Every unigram matches, no bigram does: BLEU exactly 0. */
START_TEST(test_zero_matches) {
  BleuStats st = stats_of("a b c d", "a x b y c z d");
  ck_assert_int_eq(st.match[0], 4);
  ck_assert_int_eq(st.match[1], 0);
  BleuScore s;
  bleu_score(&st, &s);
  ck_assert(isfinite(s.bleu));
  ck_assert_double_eq(s.bleu, 0.0);
  ck_assert_double_eq(s.prec[0], 1.0);
  ck_assert_double_eq(s.bp, exp(1.0 - 7.0 / 4));
}
END_TEST

/* Hypotheses equal to their references (>= 4 tokens): BLEU exactly 1. */
START_TEST(test_identical) {
  rng_state = 42;
  enum { N = 300 };
  BleuLine lines[N];
  BleuSent refs[N][3];
  uint32_t *buf[N];
  for (int i = 0; i < N; i++) {
    size_t len = 4 + rnd(30);
    buf[i] = malloc(len * sizeof **buf);
    for (size_t t = 0; t < len; t++) buf[i][t] = rnd(5);
    refs[i][0] = (BleuSent){ buf[i], len };
    refs[i][1] = (BleuSent){ buf[i], len / 2 };      /* shorter, a prefix */
    refs[i][2] = (BleuSent){ buf[i], 0 };
    lines[i] = (BleuLine){ { buf[i], len }, refs[i], 1 + (size_t)(i % 3) };
  }
  BleuScore s;
  ck_assert_int_eq(bleu_corpus(lines, N, &s, NULL), 0);
  ck_assert_double_eq(s.bleu, 1.0);
  ck_assert_double_eq(s.bp, 1.0);
  for (int k = 0; k < 4; k++) ck_assert_double_eq(s.prec[k], 1.0);
  ck_assert_int_eq(s.hyp_len, s.ref_len);
  for (int i = 0; i < N; i++) free(buf[i]);
}
END_TEST

/* Reference lengths 2 and 4 for a hypothesis of 3: the closest is 2 (the
** shorter), so BP = 1; choosing 4 would give exp(1 - 4/3). */
START_TEST(test_tie_goes_to_shorter) {
  const char *orders[2][2] = { { "x y", "a b c d" }, { "a b c d", "x y" } };
  for (int o = 0; o < 2; o++) {
    BleuSent refs[2] = { sent(orders[o][0]), sent(orders[o][1]) };
    BleuStats st = {0};
    ck_assert_int_eq(bleu_sentence_stats(sent("a b c"), refs, 2, &st, NULL), 0);
    ck_assert_int_eq(st.ref_len, 2);
  }
  /* Corpus level: lengths 3 vs refs {2,4}, and 5 vs {4,6}: R = 2 + 4 = 6
  ** against H = 8 gives BP = 1; the longer choice (4 + 6) would not. */
  BleuSent ra[2] = { sent("a b"), sent("a b c d") }, rb[2] = { sent("p q r s t u"), sent("p q r s") };
  BleuLine lines[2] = { { sent("a b c"), ra, 2 }, { sent("p q r s t"), rb, 2 } };
  BleuScore s;
  ck_assert_int_eq(bleu_corpus(lines, 2, &s, NULL), 0);
  ck_assert_int_eq(s.hyp_len, 8);
  ck_assert_int_eq(s.ref_len, 6);
  ck_assert_double_eq(s.bp, 1.0);
  /* And the other way: hypothesis 3 vs refs {6, 4}: R = 4, BP = exp(1 - 4/3). */
  BleuSent rc[2] = { sent("a b c d e f"), sent("a b c d") };
  BleuLine l3 = { sent("a b c"), rc, 2 };
  ck_assert_int_eq(bleu_corpus(&l3, 1, &s, NULL), 0);
  ck_assert_int_eq(s.ref_len, 4);
  ck_assert_double_eq_tol(s.bp, exp(1.0 - 4.0 / 3), 1e-15);
}
END_TEST

/* 200k-token lines: distinct ids, every 10th replaced in the reference, so
** the clipped n-gram count is exactly 200000 - 20000 n. */
START_TEST(test_long_line) {
  enum { L = 200000 };
  uint32_t *h = malloc(L * sizeof *h), *r = malloc(L * sizeof *r);
  ck_assert(h && r);
  for (uint32_t i = 0; i < L; i++) h[i] = i, r[i] = i % 10 == 9 ? L + i : i;
  BleuSent ref = { r, L };
  BleuStats st = {0};
  ck_assert_int_eq(bleu_sentence_stats((BleuSent){ h, L }, &ref, 1, &st, NULL), 0);
  for (int n = 1; n <= 4; n++) {
    ck_assert_int_eq(st.match[n - 1], L - 20000 * n);
    ck_assert_int_eq(st.total[n - 1], L - n + 1);
  }
  /* The same through a text file: one line, 200k tokens, no newline. */
  make_tmpdir();
  size_t cap = (size_t)L * 12, len = 0;
  char *hb = malloc(cap), *rb = malloc(cap);
  ck_assert(hb && rb);
  for (uint32_t i = 0; i < L; i++) len += (size_t)sprintf(hb + len, "w%u ", h[i]);
  char *hp = strdup(put_file("long_hyp.txt", hb, len - 1));
  len = 0;
  for (uint32_t i = 0; i < L; i++) len += (size_t)sprintf(rb + len, "w%u ", r[i]);
  const char *rp = put_file("long_ref.txt", rb, len - 1);
  BleuScore fs, cs;
  bleu_score(&st, &cs);
  Err e = {0};
  ck_assert_msg(bleu_files(hp, &rp, 1, &fs, &e) == 0, "%s", e.msg);
  ck_assert_double_eq(fs.bleu, cs.bleu);
  ck_assert_int_eq(fs.hyp_len, L);
  ck_assert_double_gt(fs.bleu, 0.5);
  free(hp), free(hb), free(rb), free(h), free(r);
  remove_tmpdir();
}
END_TEST

/* Bad arguments are errors with messages, not crashes. */
START_TEST(test_api_errors) {
  Err e = {0};
  BleuStats st = {0};
  ck_assert_int_eq(bleu_sentence_stats(sent("a"), NULL, 0, &st, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "at least one reference"));
  BleuSent bad = { NULL, 3 };
  e = (Err){0};
  ck_assert_int_eq(bleu_sentence_stats(sent("a"), &bad, 1, &st, &e), -1);
  ck_assert_int_eq(st.hyp_len, 0);                 /* untouched */
  BleuLine l[2] = { { sent("a"), &bad, 0 }, { sent("a"), &bad, 1 } };
  BleuScore s = { .bleu = 7 };
  e = (Err){0};
  ck_assert_int_eq(bleu_corpus(l, 2, &s, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "line 1:"));
  ck_assert_double_eq(s.bleu, 7);
  BleuScore z;
  ck_assert_int_eq(bleu_corpus(NULL, 0, &z, NULL), 0);
  ck_assert_double_eq(z.bleu, 0);
}
END_TEST

/* ---- brute force ---------------------------------------------------------- */

/* Textbook counting: for each hypothesis n-gram type (first occurrence),
** count it in the hypothesis and in each reference by scanning. */
static int64_t count_at(const uint32_t *t, size_t len, const uint32_t *g, int n) {
  int64_t c = 0;
  for (size_t i = 0; i + (size_t)n <= len; i++) c += memcmp(t + i, g, (size_t)n * 4) == 0;
  return c;
}

static void brute_stats(BleuSent h, const BleuSent *refs, size_t nrefs, BleuStats *st) {
  for (int n = 1; n <= 4; n++) {
    int64_t m = h.len >= (size_t)n ? (int64_t)(h.len - (size_t)n + 1) : 0;
    st->total[n - 1] += m > 1 ? m : 1;
    for (int64_t i = 0; i < m; i++) {
      const uint32_t *g = h.tok + i;
      if (count_at(h.tok, (size_t)i + (size_t)n - 1, g, n)) continue;   /* seen before */
      int64_t c = count_at(h.tok, h.len, g, n), mx = 0;
      for (size_t j = 0; j < nrefs; j++) {
        int64_t rc = count_at(refs[j].tok, refs[j].len, g, n);
        if (rc > mx) mx = rc;
      }
      st->match[n - 1] += c < mx ? c : mx;
    }
  }
  size_t best = refs[0].len;
  for (size_t j = 1; j < nrefs; j++) {
    size_t l = refs[j].len;
    long d = labs((long)l - (long)h.len), bd = labs((long)best - (long)h.len);
    if (d < bd || (d == bd && l < best)) best = l;
  }
  st->hyp_len += (int64_t)h.len;
  st->ref_len += (int64_t)best;
}

START_TEST(test_brute_force) {
  rng_state = 7;
  for (int iter = 0; iter < 2000; iter++) {
    uint32_t buf[5][40];
    BleuSent s[5];
    size_t nrefs = 1 + rnd(4);
    uint32_t vocab = 1 + rnd(6);
    for (size_t j = 0; j <= nrefs; j++) {
      size_t len = rnd(4) == 0 ? rnd(4) : rnd(40);
      for (size_t t = 0; t < len; t++) buf[j][t] = rnd(vocab);
      s[j] = (BleuSent){ buf[j], len };
    }
    BleuStats a = {0}, b = {0};
    ck_assert_int_eq(bleu_sentence_stats(s[0], s + 1, nrefs, &a, NULL), 0);
    brute_stats(s[0], s + 1, nrefs, &b);
    ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "iteration %d differs from brute force", iter);
  }
}
END_TEST

/* ---- NLTK ----------------------------------------------------------------- */

static const char *vocab_words[] = { "the", "a", "cat", "é", "日本", "of", "x", "Party" };

/* Writes a corpus (ids index vocab_words) as a text file, with varied
** separators, CRLF on some lines, and maybe no final newline. */
static const char *write_corpus(const char *name, BleuSent *s, size_t n, size_t stride) {
  size_t cap = 64, len = 0;
  for (size_t i = 0; i < n; i++) cap += s[i * stride].len * 16 + 4;
  char *b = malloc(cap);
  ck_assert_ptr_nonnull(b);
  for (size_t i = 0; i < n; i++) {
    const BleuSent *x = &s[i * stride];
    if (rnd(5) == 0) b[len++] = ' ';
    for (size_t t = 0; t < x->len; t++)
      len += (size_t)sprintf(b + len, "%s%s", t ? (rnd(6) ? " " : rnd(2) ? "\t" : "  ") : "",
                             vocab_words[x->tok[t]]);
    if (rnd(4) == 0) b[len++] = '\r';
    b[len++] = '\n';
  }
  if (n && s[(n - 1) * stride].len && rnd(2)) len -= 1 + (len >= 2 && b[len - 2] == '\r');
  const char *p = put_file(name, b, len);
  free(b);
  return p;
}

/* Runs tests/bleu_nltk.py; fails the test with a clear message when Python
** or NLTK is missing.  v: bleu p1 p2 p3 p4 bp; lens: hyp_len ref_len. */
static void nltk_score(const char *const *paths, size_t nfiles, double v[6], long long lens[2]) {
  ck_assert_msg(access(NLTK_SCRIPT, R_OK) == 0, "%s not found: run the tests from the repository root", NLTK_SCRIPT);
  ck_assert_msg(access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3 is missing: run 'make deps'");
  char cmd[2048], out[512], err[1024];
  int len = snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", NLTK_SCRIPT);
  for (size_t i = 0; i < nfiles; i++) len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%s'", paths[i]);
  int rc = run(cmd, out, sizeof out, err, sizeof err);
  ck_assert_msg(rc != 3, "python3-nltk is missing (run 'make deps'): %s", err);
  ck_assert_msg(rc == 0, "bleu_nltk.py failed (exit %d): %s", rc, err);
  ck_assert_msg(sscanf(out, "%lf %lf %lf %lf %lf %lf %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
                       &v[5], &lens[0], &lens[1]) == 8, "unexpected bleu_nltk.py output: %s", out);
}

START_TEST(test_nltk_random) {
  make_tmpdir();
  int nontrivial = 0;                                 /* corpora with BLEU > 0.1 */
  for (int c = 0; c < 10; c++) {
    rng_state = 1000 + (uint64_t)c;
    size_t n = c == 0 ? 1 : 1 + rnd(400), nrefs = 1 + rnd(4);
    uint32_t vocab = 2 + rnd(7);
    int empty_hyps = c == 1;                          /* hyp_len 0 */
    int short_all = c == 2;                           /* every length 0..3 */
    BleuSent *s = calloc(n * 5, sizeof *s);           /* line i: s[5i] hyp, s[5i+1..] refs */
    BleuLine *lines = calloc(n, sizeof *lines);
    ck_assert(s && lines);
    for (size_t i = 0; i < n; i++) {
      for (size_t j = 0; j <= nrefs; j++) {
        size_t len = short_all || rnd(3) == 0 ? rnd(4) : 4 + rnd(25);
        if (j == 0 && empty_hyps) len = 0;
        uint32_t *t = malloc((len + 1) * sizeof *t);
        for (size_t k = 0; k < len; k++) t[k] = rnd(vocab);
        s[5 * i + j] = (BleuSent){ t, len };
      }
      lines[i] = (BleuLine){ s[5 * i], &s[5 * i + 1], nrefs };
    }
    char name[32], *paths[5];
    for (size_t j = 0; j <= nrefs; j++) {
      snprintf(name, sizeof name, "c%d_%zu.txt", c, j);
      paths[j] = strdup(write_corpus(name, s + j, n, 5));
    }
    BleuScore mine, fromfile;
    Err e = {0};
    ck_assert_int_eq(bleu_corpus(lines, n, &mine, &e), 0);
    ck_assert_msg(bleu_files(paths[0], (const char *const *)paths + 1, nrefs, &fromfile, &e) == 0, "%s", e.msg);
    double v[6];
    long long lens[2];
    nltk_score((const char *const *)paths, nrefs + 1, v, lens);
    ck_assert_msg(fabs(mine.bleu - v[0]) <= 1e-9, "corpus %d: bleu %.17g, NLTK %.17g", c, mine.bleu, v[0]);
    for (int k = 0; k < 4; k++)
      ck_assert_msg(fabs(mine.prec[k] - v[1 + k]) <= 1e-12, "corpus %d: p%d %.17g, NLTK %.17g", c, k + 1, mine.prec[k], v[1 + k]);
    ck_assert_double_eq_tol(mine.bp, v[5], 1e-12);
    ck_assert_int_eq(mine.hyp_len, lens[0]);
    ck_assert_int_eq(mine.ref_len, lens[1]);
    ck_assert_msg(memcmp(&mine, &fromfile, sizeof mine) == 0, "corpus %d: bleu_files differs from bleu_corpus", c);
    if (empty_hyps) ck_assert_double_eq(mine.bleu, 0.0);
    nontrivial += mine.bleu > 0.1;
    for (size_t j = 0; j <= nrefs; j++) free(paths[j]);
    for (size_t i = 0; i < 5 * n; i++) free((void *)s[i].tok);
    free(s), free(lines);
  }
  ck_assert_int_ge(nontrivial, 5);
  remove_tmpdir();
}
END_TEST

/* ---- text files ----------------------------------------------------------- */

/* Runs bleu_files on one hyp and one ref given as strings. */
static int files_of(const char *hyp, size_t hl, const char *ref, size_t rl, BleuScore *s, Err *e) {
  char *hp = strdup(put_file("h.txt", hyp, hl));
  const char *rp = put_file("r.txt", ref, rl);
  int rc = bleu_files(hp, &rp, 1, s, e);
  free(hp);
  return rc;
}

START_TEST(test_files_format) {
  make_tmpdir();
  BleuScore a, b;
  Err e = {0};
  /* LF vs CRLF, a final newline or not, BOM, blank runs: the same score. */
  const char *h1 = "a b c d e\n\nx y z w\n", *r1 = "a b c d f\n\nx y z w v\n";
  const char *h2 = "\xef\xbb\xbf" "a  b\tc d e\r\n\r\n x y z w", *r2 = "a b c d f\r\n\r\nx y z w v\r\n";
  ck_assert_msg(files_of(h1, strlen(h1), r1, strlen(r1), &a, &e) == 0, "%s", e.msg);
  ck_assert_msg(files_of(h2, strlen(h2), r2, strlen(r2), &b, &e) == 0, "%s", e.msg);
  ck_assert(memcmp(&a, &b, sizeof a) == 0);
  ck_assert_int_eq(a.hyp_len, 9);
  ck_assert_int_eq(a.ref_len, 10);
  /* UTF-8 tokens and a NUL byte inside a token are fine. */
  ck_assert_msg(files_of("\xc3\xa9 \xf0\x9f\x98\x80 a\0b", 11, "\xc3\xa9 \xf0\x9f\x98\x80 a\0b", 11, &a, &e) == 0, "%s", e.msg);
  ck_assert_double_eq(a.prec[0], 1.0);
  /* Empty files: an empty corpus, all zeros. */
  ck_assert_int_eq(files_of("", 0, "", 0, &a, &e), 0);
  ck_assert_double_eq(a.bleu, 0);
  ck_assert_int_eq(a.hyp_len, 0);
  remove_tmpdir();
}
END_TEST

START_TEST(test_files_errors) {
  make_tmpdir();
  struct { const char *hyp; size_t hl; const char *want; } bad[] = {
    { "a\nb\nc \xff d\n", 10, "h.txt:3: error: invalid UTF-8 (byte 0xff at column 3)" },
    { "\xc0\x80\nb\nc\n", 7, "h.txt:1: error: invalid UTF-8 (byte 0xc0 at column 1)" },      /* overlong */
    { "a\n\xed\xa0\x80\nc\n", 8, "h.txt:2: error: invalid UTF-8 (byte 0xed" },               /* surrogate */
    { "a\nb\nx\xf4\x90\x80\x80", 9, "h.txt:3: error: invalid UTF-8 (byte 0xf4 at column 2)" }, /* > U+10FFFF */
    { "a\nb\nxy\xe2\x82", 8, "h.txt:3: error: invalid UTF-8 (byte 0xe2 at column 3)" },        /* cut short */
    { "a\nb\n\x80\n", 6, "h.txt:3: error: invalid UTF-8 (byte 0x80" },                         /* lone continuation */
    { "a\nb\n", 4, "r.txt: error: has 3 lines, " },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    BleuScore s;
    Err e = {0};
    ck_assert_int_eq(files_of(bad[i].hyp, bad[i].hl, "a\nb\nc\n", 6, &s, &e), -1);
    ck_assert_msg(strstr(e.msg, bad[i].want) != NULL, "case %zu: got '%s', want '%s'", i, e.msg, bad[i].want);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
  }
  BleuScore s;
  Err e = {0};
  const char *missing = "/nonexistent/ref.txt";
  ck_assert_int_eq(bleu_files("/nonexistent/hyp.txt", &missing, 1, &s, &e), -1);
  ck_assert_str_eq(e.msg, "/nonexistent/hyp.txt: error: cannot open: No such file or directory");
  e = (Err){0};
  const char *dir = tmpdir;
  char *hp = strdup(put_str("h.txt", "a\n"));
  ck_assert_int_eq(bleu_files(hp, &dir, 1, &s, &e), -1);
  ck_assert_msg(strstr(e.msg, "cannot read") && strstr(e.msg, tmpdir), "%s", e.msg);
  free(hp);
  remove_tmpdir();
}
END_TEST

/* ---- the command ---------------------------------------------------------- */

static const char *graphrun(void) {
  const char *g = getenv("GRAPHRUN");
  g = g && *g ? g : "./graphrun";
  ck_assert_msg(access(g, X_OK) == 0, "%s is not an executable (build it, or set GRAPHRUN)", g);
  return g;
}

/* Runs `graphrun bleu ARGS` in tmpdir's parent shell; returns the status. */
static int run_bleu(const char *args, char *out, size_t outn, char *err, size_t errn) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' bleu %s", graphrun(), args);
  return run(cmd, out, outn, err, errn);
}

START_TEST(test_cli) {
  make_tmpdir();
  put_str("hyp.txt", "It is a guide to action which ensures that the military always obeys the commands of the party\n"
                     "he read the book because he was interested in world history\n");
  put_str("ref1.txt", "It is a guide to action that ensures that the military will forever heed Party commands\n"
                      "he was interested in world history because he read the book\n");
  put_str("ref2.txt", "It is the guiding principle which guarantees the military forces always being under the command of the Party\n"
                      "he was interested in world history because he read the book\n");
  put_str("ref3.txt", "It is the practical guide for the army always to heed the directions of the party\r\n"
                      "he was interested in world history because he read the book");
  put_str("short.txt", "one line\n");
  put_str("bad.txt", "fine\nstill fine\nnot \xfe fine\n");
  char out[4096], err[4096], args[1024];
  const char *d = tmpdir;

  snprintf(args, sizeof args, "%s/hyp.txt %s/ref1.txt %s/ref2.txt %s/ref3.txt", d, d, d, d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 0);
  ck_assert_str_eq(out, "BLEU = 0.5921  p1..p4 = 0.9655/0.7037/0.5200/0.3478  BP = 1.0000  hyp_len = 29  ref_len = 29\n");
  ck_assert_str_eq(err, "");

  snprintf(args, sizeof args, "--json %s/hyp.txt %s/ref1.txt %s/ref2.txt %s/ref3.txt", d, d, d, d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 0);
  double b, p[4], bp;
  long long hl, rl;
  ck_assert_msg(sscanf(out, "{\"bleu\": %lf, \"precisions\": [%lf, %lf, %lf, %lf], \"bp\": %lf, \"hyp_len\": %lld, \"ref_len\": %lld}",
                       &b, &p[0], &p[1], &p[2], &p[3], &bp, &hl, &rl) == 8, "bad JSON: %s", out);
  ck_assert_double_eq_tol(b, 0.5920778868801042, 1e-15);
  ck_assert_double_eq(p[0], 28.0 / 29);
  ck_assert_double_eq(p[2], 0.52);
  ck_assert_int_eq(hl, 29);

  snprintf(args, sizeof args, "--json - %s/ref1.txt < %s/hyp.txt", d, d);   /* stdin */
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(out, "\"hyp_len\": 29"));

  /* User errors: exit 1, one line naming the file (and line). */
  snprintf(args, sizeof args, "%s/hyp.txt %s/short.txt", d, d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 1);
  char want[512];
  snprintf(want, sizeof want, "%s/short.txt: error: has 1 line, %s/hyp.txt has 2\n", d, d);
  ck_assert_str_eq(err, want);
  ck_assert_str_eq(out, "");

  snprintf(args, sizeof args, "%s/bad.txt %s/bad.txt", d, d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 1);
  snprintf(want, sizeof want, "%s/bad.txt:3: error: invalid UTF-8 (byte 0xfe at column 5)\n", d);
  ck_assert_str_eq(err, want);

  snprintf(args, sizeof args, "%s/hyp.txt %s/nope.txt", d, d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "nope.txt: error: cannot open") != NULL, "%s", err);

  snprintf(args, sizeof args, "%s/hyp.txt %s", d, d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 1);
  ck_assert_msg(strstr(err, "cannot read") != NULL, "%s", err);

  /* Usage errors: exit 2. */
  ck_assert_int_eq(run_bleu("", out, sizeof out, err, sizeof err), 2);
  ck_assert_ptr_nonnull(strstr(err, "needs a hypothesis file"));
  snprintf(args, sizeof args, "%s/hyp.txt", d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 2);
  snprintf(args, sizeof args, "--jsn %s/hyp.txt %s/ref1.txt", d, d);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 2);
  ck_assert_ptr_nonnull(strstr(err, "unknown option '--jsn'"));
  ck_assert_int_eq(run_bleu("- - < /dev/null", out, sizeof out, err, sizeof err), 2);

  ck_assert_int_eq(run_bleu("--help", out, sizeof out, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(out, "usage: graphrun bleu"));
  remove_tmpdir();
}
END_TEST

/* The command on a generated corpus agrees with NLTK through --json. */
START_TEST(test_cli_nltk) {
  make_tmpdir();
  rng_state = 99;
  enum { N = 500 };
  BleuSent s[N * 3];
  for (size_t i = 0; i < N * 3; i++) {
    size_t len = rnd(20);
    uint32_t *t = malloc((len + 1) * sizeof *t);
    for (size_t k = 0; k < len; k++) t[k] = rnd(8);
    s[i] = (BleuSent){ t, len };
  }
  const char *paths[3];
  char *keep[3];
  for (int j = 0; j < 3; j++) {
    char name[32];
    snprintf(name, sizeof name, "f%d.txt", j);
    paths[j] = keep[j] = strdup(write_corpus(name, s + j, N, 3));
  }
  double v[6];
  long long lens[2];
  nltk_score(paths, 3, v, lens);
  char args[1024], out[1024], err[1024];
  snprintf(args, sizeof args, "--json '%s' '%s' '%s'", paths[0], paths[1], paths[2]);
  ck_assert_int_eq(run_bleu(args, out, sizeof out, err, sizeof err), 0);
  double b;
  ck_assert_int_eq(sscanf(out, "{\"bleu\": %lf", &b), 1);
  ck_assert_msg(fabs(b - v[0]) <= 1e-9, "graphrun %.17g, NLTK %.17g", b, v[0]);
  ck_assert_double_gt(b, 0);
  for (int j = 0; j < 3; j++) free(keep[j]);
  for (size_t i = 0; i < N * 3; i++) free((void *)s[i].tok);
  remove_tmpdir();
}
END_TEST

static Suite *bleu_suite(void) {
  Suite *s = suite_create("bleu");
  TCase *core = tcase_create("core");
  tcase_add_test(core, test_nltk_doc_example);
  tcase_add_test(core, test_clipping);
  tcase_add_test(core, test_short_hypothesis);
  tcase_add_test(core, test_zero_matches);
  tcase_add_test(core, test_identical);
  tcase_add_test(core, test_tie_goes_to_shorter);
  tcase_add_test(core, test_api_errors);
  tcase_add_test(core, test_brute_force);
  suite_add_tcase(s, core);
  TCase *io = tcase_create("files");
  tcase_set_timeout(io, 120);
  tcase_add_test(io, test_long_line);
  tcase_add_test(io, test_files_format);
  tcase_add_test(io, test_files_errors);
  suite_add_tcase(s, io);
  TCase *ext = tcase_create("nltk-and-cli");
  tcase_set_timeout(ext, 300);
  tcase_add_test(ext, test_nltk_random);
  tcase_add_test(ext, test_cli);
  tcase_add_test(ext, test_cli_nltk);
  suite_add_tcase(s, ext);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(bleu_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
