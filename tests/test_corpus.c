/*
** test_corpus.c — tests of src/corpus.c: vocabulary ids, every file error
** (a located one-line message, never a crash), the lm stream and the
** translation bundles on hand-computed tiny examples, and both iterators
** against the PyTorch reference's own layout on the committed data/ files
** (the expected pieces are printed by a few lines of /usr/bin/python3 that
** lay pieces out as bench/torch_ref.py does: plain lists, torch tensors under make check-torch).
** Run from the repository root.
*/
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "corpus.h"

static char tmpdir[64];
static char msg[512];

static void setup(void) {
  strcpy(tmpdir, "/tmp/test_corpus.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  msg[0] = 0;
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "test_corpus: could not remove %s\n", tmpdir);
}

/* Writes len bytes to tmpdir/name; returns the path (static buffer, one per slot). */
static const char *put(const char *name, const char *data, size_t len) {
  static char paths[4][128];
  static int k;
  char *p = paths[k++ & 3];
  snprintf(p, 128, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  fclose(f);
  return p;
}
static const char *puts0(const char *name, const char *text) { return put(name, text, strlen(text)); }

/* Reads path with a fresh vocabulary, expecting failure; returns msg. */
static const char *read_fails(const char *path) {
  Vocab v;
  Sents s;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_read(path, &v, 1, &s, msg, sizeof msg), -1);
  ck_assert_ptr_null(s.ids);                 /* zeroed on failure */
  ck_assert_int_eq(s.n, 0);
  corpus_vocab_free(&v);
  return msg;
}

/* Expected "PATH<rest>" for a file in tmpdir. */
static const char *at(const char *path, const char *rest) {
  static char buf[600];
  snprintf(buf, sizeof buf, "%s%s", path, rest);
  return buf;
}

/* ---- vocabulary ---------------------------------------------------------- */

START_TEST(vocab_specials_and_order) {
  Vocab v;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  ck_assert_int_eq(v.n, 4);
  ck_assert_str_eq(corpus_vocab_word(&v, CORPUS_PAD), "<pad>");
  ck_assert_str_eq(corpus_vocab_word(&v, CORPUS_EOS), "<eos>");
  ck_assert_str_eq(corpus_vocab_word(&v, CORPUS_SOS), "<sos>");
  ck_assert_str_eq(corpus_vocab_word(&v, CORPUS_UNK), "<unk>");
  ck_assert_int_eq(corpus_vocab_find(&v, "<unk>", 5), 3);
  ck_assert_int_eq(corpus_vocab_add(&v, "the", 3, msg, sizeof msg), 4);
  ck_assert_int_eq(corpus_vocab_add(&v, "cat", 3, msg, sizeof msg), 5);
  ck_assert_int_eq(corpus_vocab_add(&v, "the", 3, msg, sizeof msg), 4);
  ck_assert_int_eq(corpus_vocab_add(&v, "th", 2, msg, sizeof msg), 6);   /* prefix is another word */
  ck_assert_int_eq(corpus_vocab_find(&v, "cats", 3), 5);                 /* a slice, not NUL-ended */
  ck_assert_int_eq(corpus_vocab_find(&v, "dog", 3), -1);
  ck_assert_int_eq(corpus_vocab_add(&v, "<eos>", 5, msg, sizeof msg), CORPUS_EOS);
  ck_assert_ptr_null(corpus_vocab_word(&v, 7));
  ck_assert_ptr_null(corpus_vocab_word(&v, -1));
  ck_assert_int_eq(v.n, 7);
  corpus_vocab_free(&v);
  corpus_vocab_free(&v);                      /* twice is harmless */
  ck_assert_int_eq(corpus_vocab_find(&v, "the", 3), -1);
}
END_TEST

START_TEST(vocab_many_words_survive_rehash) {
  Vocab v;
  char w[32];
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  for (int i = 0; i < 100000; i++) {
    int n = snprintf(w, sizeof w, "w%d", i);
    ck_assert_int_eq(corpus_vocab_add(&v, w, (size_t)n, msg, sizeof msg), 4 + i);
  }
  for (int i = 0; i < 100000; i += 7) {
    int n = snprintf(w, sizeof w, "w%d", i);
    ck_assert_int_eq(corpus_vocab_find(&v, w, (size_t)n), 4 + i);
    ck_assert_str_eq(corpus_vocab_word(&v, 4 + i), w);
  }
  ck_assert_uint_ge(v.nslot, 2u * (uint32_t)v.n);
  corpus_vocab_free(&v);
}
END_TEST

/* ---- reading ------------------------------------------------------------- */

START_TEST(read_ids_blank_lines_crlf) {
  Vocab v;
  Sents a, b;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  const char *p = puts0("a.txt", "the cat  sat\n\n   \t\nthe dog\n");
  ck_assert_int_eq(corpus_read(p, &v, 1, &a, msg, sizeof msg), 0);
  ck_assert_int_eq(a.n, 2);
  ck_assert_int_eq(a.ntok, 5);
  ck_assert_int_eq(a.maxlen, 3);
  ck_assert_str_eq(a.file, p);
  int32_t want[] = { 4, 5, 6, 4, 7 };
  for (int i = 0; i < 5; i++) ck_assert_int_eq(a.ids[i], want[i]);
  ck_assert_int_eq(a.off[0], 0);
  ck_assert_int_eq(a.off[1], 3);
  ck_assert_int_eq(a.off[2], 5);
  /* Same text with CRLF, tabs, \v \f, and no final newline: same ids. */
  p = puts0("b.txt", "the\tcat\vsat\r\n\r\n\f\r\nthe dog");
  ck_assert_int_eq(corpus_read(p, &v, 1, &b, msg, sizeof msg), 0);
  ck_assert_int_eq(b.n, 2);
  ck_assert_int_eq(b.ntok, 5);
  for (int i = 0; i < 5; i++) ck_assert_int_eq(b.ids[i], want[i]);
  ck_assert_int_eq(v.n, 8);
  corpus_sents_free(&a);
  corpus_sents_free(&b);
  corpus_vocab_free(&v);
}
END_TEST

START_TEST(read_eval_maps_unknown_to_unk) {
  Vocab v;
  Sents tr, va;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_read(puts0("t.txt", "a b <unk>\n"), &v, 1, &tr, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_read(puts0("v.txt", "b zz a\nqq <unk>\n"), &v, 0, &va, msg, sizeof msg), 0);
  ck_assert_int_eq(v.n, 6);                   /* <unk> in the text is the special one */
  ck_assert_int_eq(tr.ids[2], CORPUS_UNK);
  int32_t want[] = { 5, CORPUS_UNK, 4, CORPUS_UNK, CORPUS_UNK };
  for (int i = 0; i < 5; i++) ck_assert_int_eq(va.ids[i], want[i]);
  ck_assert_int_eq(va.nunk, 2);               /* zz, qq; the literal <unk> is a known word */
  corpus_sents_free(&tr);
  corpus_sents_free(&va);
  corpus_vocab_free(&v);
}
END_TEST

START_TEST(read_utf8_accepted) {
  Vocab v;
  Sents s;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  const char *p = puts0("u.txt", "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\n");
  ck_assert_int_eq(corpus_read(p, &v, 1, &s, msg, sizeof msg), 0);
  ck_assert_int_eq(s.ntok, 4);
  ck_assert_str_eq(corpus_vocab_word(&v, 4), "h\xc3\xa9llo");
  ck_assert_str_eq(corpus_vocab_word(&v, 6), "\xf0\x9f\x98\x80");
  corpus_sents_free(&s);
  corpus_vocab_free(&v);
}
END_TEST

START_TEST(err_missing_file) {
  char p[128];
  snprintf(p, sizeof p, "%s/nope.txt", tmpdir);
  ck_assert_str_eq(read_fails(p), at(p, ": error: cannot open: No such file or directory"));
}
END_TEST

START_TEST(err_directory) {
  ck_assert_str_eq(read_fails(tmpdir), at(tmpdir, ": error: cannot read: Is a directory"));
}
END_TEST

START_TEST(err_empty_and_blank) {
  const char *p = put("e.txt", "", 0);
  ck_assert_str_eq(read_fails(p), at(p, ": error: no sentences (empty or blank file)"));
  p = puts0("b.txt", "\n  \r\n\t\n\n");
  ck_assert_str_eq(read_fails(p), at(p, ": error: no sentences (empty or blank file)"));
}
END_TEST

START_TEST(err_invalid_utf8_located) {
  char text[256] = "";
  for (int i = 1; i <= 16; i++) strcat(text, "ok line\n");
  strcat(text, "abcd\xffx\nmore\n");
  const char *p = puts0("x.txt", text);
  ck_assert_str_eq(read_fails(p), at(p, ":17: error: invalid UTF-8 at byte 5"));
  struct { const char *text; const char *want; } cases[] = {
    { "\xc0\xaf\n", ":1: error: invalid UTF-8 at byte 1" },           /* overlong '/' */
    { "ok\nab \xed\xa0\x80\n", ":2: error: invalid UTF-8 at byte 4" }, /* surrogate */
    { "x \xc3\n", ":1: error: invalid UTF-8 at byte 3" },             /* cut at line end */
    { "x \xc3", ":1: error: invalid UTF-8 at byte 3" },               /* ... and file end */
    { "\xf4\x90\x80\x80\n", ":1: error: invalid UTF-8 at byte 1" },   /* above U+10FFFF */
    { "ab\xe2\x82z\n", ":1: error: invalid UTF-8 at byte 3" },        /* bad continuation */
    { "a\x80\n", ":1: error: invalid UTF-8 at byte 2" },              /* stray continuation */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    p = puts0("y.txt", cases[i].text);
    ck_assert_str_eq(read_fails(p), at(p, cases[i].want));
  }
}
END_TEST

START_TEST(err_nul_byte) {
  const char *p = put("n.txt", "fine\nab\0c\n", 10);
  ck_assert_str_eq(read_fails(p), at(p, ":2: error: NUL byte at byte 3"));
}
END_TEST

START_TEST(err_line_too_long) {
  size_t L = CORPUS_MAXLINE;
  char *text = malloc(L + 64);
  ck_assert_ptr_nonnull(text);
  /* Lines 1-2 short, line 3 one byte over the limit. */
  strcpy(text, "a b\nc\n");
  size_t n = strlen(text);
  memset(text + n, 'w', L + 1);
  n += L + 1;
  text[n++] = '\n';
  const char *p = put("long.txt", text, n);
  ck_assert_str_eq(read_fails(p), at(p, ":3: error: line longer than 1048576 bytes"));
  /* The same without a final newline. */
  p = put("long2.txt", text, n - 1);
  ck_assert_str_eq(read_fails(p), at(p, ":3: error: line longer than 1048576 bytes"));
  /* Far longer than the buffer: still an error on the right line. */
  free(text);
  text = malloc(3 * L);
  ck_assert_ptr_nonnull(text);
  memset(text, 'z', 3 * L);
  p = put("long3.txt", text, 3 * L);
  ck_assert_str_eq(read_fails(p), at(p, ":1: error: line longer than 1048576 bytes"));
  free(text);
}
END_TEST

START_TEST(line_at_the_limit_is_accepted) {
  size_t L = CORPUS_MAXLINE;
  char *text = malloc(2 * L + 16);
  ck_assert_ptr_nonnull(text);
  /* Exactly L bytes of "x x x ... x" with CRLF, then exactly L with LF. */
  size_t n = 0;
  for (int rep = 0; rep < 2; rep++) {
    for (size_t i = 0; i < L; i++) text[n + i] = i % 2 ? ' ' : 'x';
    text[n + L - 1] = 'y';                    /* L is even: the last byte ends a word */
    n += L;
    if (rep == 0) text[n++] = '\r';
    text[n++] = '\n';
  }
  Vocab v;
  Sents s;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  ck_assert_msg(corpus_read(put("edge.txt", text, n), &v, 1, &s, msg, sizeof msg) == 0, "%s", msg);
  ck_assert_int_eq(s.n, 2);
  ck_assert_int_eq(s.ntok, (long)L);          /* L/2 words per line */
  ck_assert_int_eq(s.maxlen, (int)(L / 2));
  corpus_sents_free(&s);
  corpus_vocab_free(&v);
  free(text);
}
END_TEST

/* ---- lm stream ----------------------------------------------------------- */

static void expect_ids(const int32_t *got, const int32_t *want, int n) {
  for (int i = 0; i < n; i++) ck_assert_msg(got[i] == want[i], "element %d: got %d, want %d", i, got[i], want[i]);
}

START_TEST(stream_tiny_hand_computed) {
  Vocab v;
  Sents s;
  Stream st;
  Batch b;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  /* a=4 b=5 c=6 d=7 e=8 f=9.  flat = a b c <eos> d e <eos> f <eos> (9), B=2:
  ** rows = 4, column 0 = a b c <eos>, column 1 = d e <eos> f; last <eos> dropped. */
  ck_assert_int_eq(corpus_read(puts0("s.txt", "a b c\nd e\nf\n"), &v, 1, &s, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_stream_init(&st, &s, 2, 2, msg, sizeof msg), 0);
  corpus_sents_free(&s);                      /* the stream keeps its own copy */
  ck_assert_int_eq(st.rows, 4);
  ck_assert_int_eq(st.npieces, 2);
  for (int pass = 0; pass < 2; pass++) {
    ck_assert_int_eq(corpus_stream_next(&st, &b), 1);
    ck_assert_int_eq(b.T, 2);
    ck_assert_int_eq(b.B, 2);
    ck_assert_int_eq(b.first, 1);
    ck_assert_int_eq(b.ntok, 4);
    ck_assert_ptr_null(b.src);
    expect_ids(b.x, (int32_t[]){ 4, 7, 5, 8 }, 4);
    expect_ids(b.y, (int32_t[]){ 5, 8, 6, 1 }, 4);
    ck_assert_int_eq(corpus_stream_next(&st, &b), 1);
    ck_assert_int_eq(b.T, 1);
    ck_assert_int_eq(b.first, 0);
    ck_assert_int_eq(b.ntok, 2);
    expect_ids(b.x, (int32_t[]){ 6, 1 }, 2);
    expect_ids(b.y, (int32_t[]){ 1, 9 }, 2);
    ck_assert_int_eq(corpus_stream_next(&st, &b), 0);
    ck_assert_int_eq(corpus_stream_next(&st, &b), 0);
    corpus_stream_reset(&st);                 /* the second pass is the same */
  }
  corpus_stream_free(&st);
  corpus_stream_free(&st);
  ck_assert_int_eq(corpus_stream_next(&st, &b), 0);
  corpus_vocab_free(&v);
}
END_TEST

START_TEST(stream_errors) {
  Vocab v;
  Sents s;
  Stream st;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  const char *p = puts0("one.txt", "a\n");
  ck_assert_int_eq(corpus_read(p, &v, 1, &s, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_stream_init(&st, &s, 2, 35, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, at(p, ": error: 2 tokens (with <eos>) give fewer than 2 rows for batch 2"));
  ck_assert_int_eq(corpus_stream_init(&st, &s, 0, 35, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "error: batch size must be at least 1, got 0");
  ck_assert_int_eq(corpus_stream_init(&st, &s, 1, -3, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "error: bptt must be at least 1, got -3");
  ck_assert_int_eq(corpus_stream_init(&st, &s, 1, 35, msg, sizeof msg), 0);   /* a <eos>: one piece */
  Batch b;
  ck_assert_int_eq(corpus_stream_next(&st, &b), 1);
  ck_assert_int_eq(b.T, 1);
  ck_assert_int_eq(b.x[0], 4);
  ck_assert_int_eq(b.y[0], CORPUS_EOS);
  ck_assert_int_eq(corpus_stream_next(&st, &b), 0);
  corpus_stream_free(&st);
  corpus_sents_free(&s);
  corpus_vocab_free(&v);
}
END_TEST

/* ---- translation bundles ------------------------------------------------- */

START_TEST(bundles_tiny_hand_computed) {
  Vocab v;
  Sents S, T;
  Bundles bu;
  Batch b;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  /* src: a=4 b=5 c=6 d=7 e=8 f=9; tgt: x=10 y=11 z=12 w=13 v=14 u=15 t=16 */
  ck_assert_int_eq(corpus_read(puts0("src.txt", "a b c\nd\ne f\n"), &v, 1, &S, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_read(puts0("tgt.txt", "x y\nz\n\nw v u t\n"), &v, 1, &T, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_bundles_init(&bu, &S, &T, 2, 2, msg, sizeof msg), 0);
  ck_assert_int_eq(bu.nbundles, 2);
  ck_assert_int_eq(bu.npieces, 5);
  for (int pass = 0; pass < 2; pass++) {
    /* Bundle 0: targets [<sos> x y <eos>], [<sos> z <eos> <pad>] -> [4,2]. */
    ck_assert_int_eq(corpus_bundles_next(&bu, &b), 1);
    ck_assert_int_eq(b.bundle, 0);
    ck_assert_int_eq(b.first, 1);
    ck_assert_int_eq(b.T, 2);
    ck_assert_int_eq(b.B, 2);
    ck_assert_int_eq(b.Ts, 3);
    expect_ids(b.src, (int32_t[]){ 4, 7, 5, 0, 6, 0 }, 6);
    expect_ids(b.src_len, (int32_t[]){ 3, 1 }, 2);
    expect_ids(b.x, (int32_t[]){ 2, 2, 10, 12 }, 4);
    expect_ids(b.y, (int32_t[]){ 10, 12, 11, 1 }, 4);
    ck_assert_int_eq(b.ntok, 4);
    ck_assert_int_eq(corpus_bundles_next(&bu, &b), 1);
    ck_assert_int_eq(b.bundle, 0);
    ck_assert_int_eq(b.first, 0);
    ck_assert_int_eq(b.T, 1);
    expect_ids(b.x, (int32_t[]){ 11, 1 }, 2);
    expect_ids(b.y, (int32_t[]){ 1, 0 }, 2);
    ck_assert_int_eq(b.ntok, 1);              /* the <pad> does not count */
    ck_assert_int_eq(b.Ts, 3);                /* source stays with every piece */
    /* Bundle 1: one column, <sos> w v u t <eos>: tl = 6, pieces of 2, 2, 1. */
    ck_assert_int_eq(corpus_bundles_next(&bu, &b), 1);
    ck_assert_int_eq(b.bundle, 1);
    ck_assert_int_eq(b.first, 1);
    ck_assert_int_eq(b.B, 1);
    ck_assert_int_eq(b.Ts, 2);
    expect_ids(b.src, (int32_t[]){ 8, 9 }, 2);
    ck_assert_int_eq(b.src_len[0], 2);
    expect_ids(b.x, (int32_t[]){ 2, 13 }, 2);
    expect_ids(b.y, (int32_t[]){ 13, 14 }, 2);
    ck_assert_int_eq(b.ntok, 2);
    ck_assert_int_eq(corpus_bundles_next(&bu, &b), 1);
    ck_assert_int_eq(b.first, 0);
    expect_ids(b.x, (int32_t[]){ 14, 15 }, 2);
    expect_ids(b.y, (int32_t[]){ 15, 16 }, 2);
    ck_assert_int_eq(corpus_bundles_next(&bu, &b), 1);
    ck_assert_int_eq(b.T, 1);
    expect_ids(b.x, (int32_t[]){ 16 }, 1);
    expect_ids(b.y, (int32_t[]){ 1 }, 1);
    ck_assert_int_eq(b.ntok, 1);
    ck_assert_int_eq(corpus_bundles_next(&bu, &b), 0);
    corpus_bundles_reset(&bu);
  }
  corpus_bundles_free(&bu);
  corpus_bundles_free(&bu);
  ck_assert_int_eq(corpus_bundles_next(&bu, &b), 0);
  corpus_sents_free(&S);
  corpus_sents_free(&T);
  corpus_vocab_free(&v);
}
END_TEST

/* batching = bucket: 5 pairs, B = 2, windows of 1 bundle (2 sentences)
** and of 3 (all): sorted by target length, then source length, then line. */
START_TEST(bundles_bucketed_hand_computed) {
  Vocab v;
  Sents S, T;
  Bundles bu;
  Batch b;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  /* tgt lengths 3 1 2 1 2; src lengths 1 1 2 3 1.  Words: p=4 q=5 r=6 s=7; a=8 */
  ck_assert_int_eq(corpus_read(puts0("tgt.txt", "p p p\nq\nr r\ns\nq q\n"), &v, 1, &T, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_read(puts0("src.txt", "a\na\na a\na a a\na\n"), &v, 1, &S, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_bundles_init(&bu, &S, &T, 2, 35, msg, sizeof msg), 0);
  /* file order: bundles {0,1} {2,3} {4}: rows 5, 4, 4 -> grid 4*2 + 3*2 + 3*1 */
  ck_assert_int_eq(bu.grid, 17);
  ck_assert_int_eq(corpus_bundles_bucket(&bu, 3, msg, sizeof msg), 0);
  /* one window: order by (tgt, src, line): 1 (1,1), 3 (1,3), 4 (2,1), 2 (2,2), 0 (3,1) */
  static const long want[] = { 1, 3, 4, 2, 0 };
  for (int i = 0; i < 5; i++) ck_assert_int_eq(bu.order[i], want[i]);
  ck_assert_int_eq(bu.nbundles, 3);
  ck_assert_int_eq(bu.grid, 2 * 2 + 3 * 2 + 4 * 1);   /* rows 3, 4, 5 */
  ck_assert_int_eq(bu.npieces, 3);
  /* unshuffled: bundle 0 = lines 1, 3: targets q, s; sources a, a a a */
  ck_assert_int_eq(corpus_bundles_next(&bu, &b), 1);
  ck_assert_int_eq(b.T, 2);
  ck_assert_int_eq(b.B, 2);
  expect_ids(b.x, (int32_t[]){ 2, 2, 5, 7 }, 4);
  expect_ids(b.y, (int32_t[]){ 5, 7, 1, 1 }, 4);
  expect_ids(b.src_len, (int32_t[]){ 1, 3 }, 2);
  expect_ids(b.src, (int32_t[]){ 8, 8, 0, 8, 0, 8 }, 6);
  /* a shuffle visits each bundle once, repeatably for a seed */
  int seen_orders = 0;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    corpus_bundles_shuffle(&bu, seed);
    long first[3], k = 0;
    int hit[3] = { 0, 0, 0 };
    while (corpus_bundles_next(&bu, &b)) if (b.first) { hit[b.B == 1 ? 2 : b.T == 2 ? 0 : 1]++; first[k++] = b.T * 10 + b.B; }
    ck_assert_int_eq(k, 3);
    ck_assert(hit[0] == 1 && hit[1] == 1 && hit[2] == 1);
    corpus_bundles_shuffle(&bu, seed);
    for (long i = 0; i < 3; i++) {
      ck_assert_int_eq(corpus_bundles_next(&bu, &b), 1);
      ck_assert_int_eq(b.T * 10 + b.B, first[i]);
    }
    seen_orders |= 1 << (first[0] % 7);
  }
  ck_assert_int_ne(seen_orders & (seen_orders - 1), 0);     /* not always the same first bundle */
  corpus_bundles_free(&bu);
  /* windows of one bundle: each pair of lines sorted on its own */
  ck_assert_int_eq(corpus_bundles_init(&bu, &S, &T, 2, 35, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_bundles_bucket(&bu, 1, msg, sizeof msg), 0);
  static const long want1[] = { 1, 0, 3, 2, 4 };
  for (int i = 0; i < 5; i++) ck_assert_int_eq(bu.order[i], want1[i]);
  corpus_bundles_free(&bu);
  corpus_sents_free(&S);
  corpus_sents_free(&T);
  corpus_vocab_free(&v);
}
END_TEST

START_TEST(bundles_errors) {
  Vocab v;
  Sents S, T;
  Bundles bu;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  const char *ps = puts0("src.txt", "a\nb\nc\n"), *pt = puts0("tgt.txt", "a\nb\n");
  ck_assert_int_eq(corpus_read(ps, &v, 1, &S, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_read(pt, &v, 1, &T, msg, sizeof msg), 0);
  ck_assert_int_eq(corpus_bundles_init(&bu, &S, &T, 2, 2, msg, sizeof msg), -1);
  char want[400];
  snprintf(want, sizeof want, "error: %s has 3 sentences but %s has 2", ps, pt);
  ck_assert_str_eq(msg, want);
  ck_assert_int_eq(corpus_bundles_init(&bu, &T, &T, 0, 2, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "error: batch size must be at least 1, got 0");
  ck_assert_int_eq(corpus_bundles_init(&bu, &T, &T, 2, 0, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "error: bptt must be at least 1, got 0");
  corpus_sents_free(&S);
  corpus_sents_free(&T);
  corpus_vocab_free(&v);
}
END_TEST

/* ---- against the reference's layout, on the committed data ---------------
** The script reads files with a vocabulary of its own (every word by first
** appearance, no <unk> of its own), lays out the stream and the bundles as
** bench/torch_ref.py does, with plain lists, or with torch tensors under
** `make check-torch` (GR_TORCH_LIVE=1: torch must
** then be there), and prints each piece as words.  Words, not ids, are compared: the
** script puts <unk> wherever it first appears, we fix it at id 3. */
static const char *REF_PY =
  "import os, sys\n"
  "mode, B, bptt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
  "itos = ['<pad>', '<eos>', '<sos>']; stoi = {w: i for i, w in enumerate(itos)}\n"
  "def ids(line):\n"
  "    out = []\n"
  "    for w in line.split():\n"
  "        if w not in stoi: stoi[w] = len(itos); itos.append(w)\n"
  "        out.append(stoi[w])\n"
  "    return out\n"
  "def read(path): return [ids(l) for l in open(path) if l.strip()]\n"
  "torch = None\n"
  "if os.environ.get('GR_TORCH_LIVE') == '1': import torch\n"
  "print('backend', 'torch' if torch else 'lists')\n"
  "W = lambda rows: ' '.join(itos[w] for r in rows for w in r)\n"
  "if mode == 'lm':\n"
  "    data = read(sys.argv[4]); print('vocab', len(itos))\n"
  "    flat = [w for s in data for w in s + [1]]; n = len(flat) // B\n"
  "    if torch: mat = torch.tensor(flat)[:n * B].view(B, n).t().contiguous().tolist()\n"
  "    else: mat = [list(r) for r in zip(*[flat[b * n:(b + 1) * n] for b in range(B)])]\n"
  "    for i in range(0, n - 1, bptt):\n"
  "        m = min(bptt, n - 1 - i); x, y = mat[i:i + m], mat[i + 1:i + 1 + m]\n"
  "        print('piece', m, B, int(i == 0), m * B, 0); print(W(x)); print(W(y))\n"
  "else:\n"
  "    src = read(sys.argv[4]); tgt = read(sys.argv[5]); print('vocab', len(itos))\n"
  "    for k, i0 in enumerate(range(0, len(tgt), B)):\n"
  "        T = [[2] + y + [1] for y in tgt[i0:i0 + B]]; S = src[i0:i0 + B]\n"
  "        tl, sl = max(map(len, T)), max(map(len, S))\n"
  "        if torch:\n"
  "            tt = torch.zeros(tl, len(T), dtype=torch.long); ss = torch.zeros(sl, len(S), dtype=torch.long)\n"
  "            for j, (y, x) in enumerate(zip(T, S)): tt[:len(y), j] = torch.tensor(y); ss[:len(x), j] = torch.tensor(x)\n"
  "            tt, ss = tt.tolist(), ss.tolist()\n"
  "        else:\n"
  "            tt = [[y[t] if t < len(y) else 0 for y in T] for t in range(tl)]\n"
  "            ss = [[x[t] if t < len(x) else 0 for x in S] for t in range(sl)]\n"
  "        for i in range(0, tl - 1, bptt):\n"
  "            m = min(bptt, tl - 1 - i); x, y = tt[i:i + m], tt[i + 1:i + 1 + m]\n"
  "            print('piece', m, len(T), int(i == 0), sum(w != 0 for r in y for w in r), sl)\n"
  "            print(W(ss)); print(' '.join(str(len(x)) for x in S)); print(W(x)); print(W(y))\n";

/* Compares the words of ids[0..n) with one line of space-separated words. */
static void expect_words(const Vocab *v, const int32_t *ids, long n, const char *line, const char *what, long piece) {
  const char *p = line;
  for (long i = 0; i < n; i++) {
    const char *w = corpus_vocab_word(v, ids[i]);
    ck_assert_ptr_nonnull(w);
    size_t len = strlen(w);
    ck_assert_msg(strncmp(p, w, len) == 0 && (p[len] == ' ' || p[len] == '\n' || p[len] == 0),
                  "piece %ld %s element %ld: got %s, reference has %.20s", piece, what, i, w, p);
    p += len;
    if (*p == ' ') p++;
  }
  ck_assert_msg(*p == '\n' || *p == 0, "piece %ld %s: reference has more elements", piece, what);
}

/* Runs REF_PY with args, compares with our iterator over the same files.
** mode "lm": files[0]; else src files[0], tgt files[1].  If vocab_check,
** our vocabulary size must equal the reference's (true on data/: <unk>
** occurs in train, so both count the same words). */
static void against_reference(const char *mode, int B, int bptt, const char *f0, const char *f1, int vocab_check) {
  char script[128], cmd[512];
  snprintf(script, sizeof script, "%s/ref.py", tmpdir);
  puts0("ref.py", REF_PY);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %d %d %s %s", script, mode, B, bptt, f0, f1 ? f1 : "");
  FILE *py = popen(cmd, "r");
  ck_assert_ptr_nonnull(py);

  Vocab v;
  Sents S, T;
  Stream st;
  Bundles bu;
  int lm = strcmp(mode, "lm") == 0;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  ck_assert_msg(corpus_read(f0, &v, 1, &S, msg, sizeof msg) == 0, "%s", msg);
  if (lm) ck_assert_msg(corpus_stream_init(&st, &S, B, bptt, msg, sizeof msg) == 0, "%s", msg);
  else {
    ck_assert_msg(corpus_read(f1, &v, 1, &T, msg, sizeof msg) == 0, "%s", msg);
    ck_assert_msg(corpus_bundles_init(&bu, &S, &T, B, bptt, msg, sizeof msg) == 0, "%s", msg);
  }

  char *line = NULL;
  size_t lcap = 0;
  long pieces = 0;
  ck_assert_int_gt(getline(&line, &lcap, py), 0);
  ck_assert_msg(strncmp(line, "backend ", 8) == 0, "python said: %s", line);
  const char *live = getenv("GR_TORCH_LIVE");
  ck_assert_str_eq(line + 8, live && !strcmp(live, "1") ? "torch\n" : "lists\n");
  ck_assert_int_gt(getline(&line, &lcap, py), 0);
  long refV = 0;
  ck_assert_int_eq(sscanf(line, "vocab %ld", &refV), 1);
  if (vocab_check) ck_assert_int_eq(v.n, refV);
  for (;;) {
    Batch b;
    int got = lm ? corpus_stream_next(&st, &b) : corpus_bundles_next(&bu, &b);
    if (getline(&line, &lcap, py) <= 0) { ck_assert_msg(!got, "we have more pieces than the reference (%ld)", pieces); break; }
    ck_assert_msg(got, "the reference has more pieces than our %ld", pieces);
    int T_, B_, first, Ts;
    long ntok;
    ck_assert_int_eq(sscanf(line, "piece %d %d %d %ld %d", &T_, &B_, &first, &ntok, &Ts), 5);
    ck_assert_int_eq(b.T, T_);
    ck_assert_int_eq(b.B, B_);
    ck_assert_int_eq(b.first, first);
    ck_assert_int_eq(b.ntok, ntok);
    if (!lm) {
      ck_assert_int_eq(b.Ts, Ts);
      ck_assert_int_gt(getline(&line, &lcap, py), 0);
      expect_words(&v, b.src, (long)b.Ts * b.B, line, "src", pieces);
      ck_assert_int_gt(getline(&line, &lcap, py), 0);
      char *p = line;
      for (int j = 0; j < b.B; j++) ck_assert_int_eq(b.src_len[j], strtol(p, &p, 10));
    }
    ck_assert_int_gt(getline(&line, &lcap, py), 0);
    expect_words(&v, b.x, (long)b.T * b.B, line, "x", pieces);
    ck_assert_int_gt(getline(&line, &lcap, py), 0);
    expect_words(&v, b.y, (long)b.T * b.B, line, "y", pieces);
    pieces++;
  }
  ck_assert_int_eq(pieces, lm ? st.npieces : bu.npieces);
  ck_assert_int_gt(pieces, 0);
  free(line);
  ck_assert_int_eq(pclose(py), 0);
  if (lm) corpus_stream_free(&st);
  else { corpus_bundles_free(&bu); corpus_sents_free(&T); }
  corpus_sents_free(&S);
  corpus_vocab_free(&v);
}

START_TEST(ref_stream_train) { against_reference("lm", 20, 35, "data/train.txt", NULL, 1); }
END_TEST
START_TEST(ref_stream_valid_b1) { against_reference("lm", 1, 35, "data/valid.txt", NULL, 1); }
END_TEST
START_TEST(ref_stream_odd_sizes) { against_reference("lm", 7, 3, "data/valid.txt", NULL, 1); }
END_TEST
START_TEST(ref_bundles_train) { against_reference("cond", 20, 35, "data/src-train.txt", "data/train.txt", 1); }
END_TEST
START_TEST(ref_bundles_valid_b60_bptt4) { against_reference("cond", 60, 4, "data/src-valid.txt", "data/valid.txt", 1); }
END_TEST
START_TEST(ref_bundles_shifted_pairs) {
  /* Source and target differ; short last bundle; no <unk> in the text, so
  ** our vocabulary has one more entry than the reference's: no size check. */
  const char *t = puts0("t.txt", "one two three four five six seven\nb\nc d\ne\n");
  const char *s = puts0("s.txt", "x\ny y y y\nz\nw v\n");
  against_reference("cond", 3, 2, s, t, 0);
}
END_TEST

/* The committed data: the reader agrees with the files' own counts, and
** valid holds no word outside train's vocabulary (so our <unk> mapping and
** the reference's growing vocabulary give the same size). */
START_TEST(committed_data_reads) {
  Vocab v;
  Sents tr, va;
  ck_assert_int_eq(corpus_vocab_init(&v, msg, sizeof msg), 0);
  ck_assert_msg(corpus_read("data/train.txt", &v, 1, &tr, msg, sizeof msg) == 0, "%s", msg);
  int32_t V = v.n;
  ck_assert_msg(corpus_read("data/valid.txt", &v, 0, &va, msg, sizeof msg) == 0, "%s", msg);
  ck_assert_int_eq(va.nunk, 0);
  ck_assert_int_eq(v.n, V);
  /* Lines and words by a second, independent count of the bytes. */
  long lines = 0, words = 0;
  FILE *f = fopen("data/train.txt", "rb");
  ck_assert_ptr_nonnull(f);
  int c, prev = '\n';
  while ((c = getc(f)) != EOF) {
    if (c == '\n' && prev != '\n') lines++;
    if (c != ' ' && c != '\n' && (prev == ' ' || prev == '\n')) words++;
    prev = c;
  }
  fclose(f);
  ck_assert_int_eq(tr.n, lines);
  ck_assert_int_eq(tr.ntok, words);
  corpus_sents_free(&tr);
  corpus_sents_free(&va);
  corpus_vocab_free(&v);
}
END_TEST

static Suite *corpus_suite(void) {
  Suite *s = suite_create("corpus");
  TCase *t = tcase_create("vocab");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 60);                   /* generous everywhere: valgrind, a busy machine */
  tcase_add_test(t, vocab_specials_and_order);
  tcase_add_test(t, vocab_many_words_survive_rehash);
  suite_add_tcase(s, t);
  t = tcase_create("read");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 60);
  tcase_add_test(t, read_ids_blank_lines_crlf);
  tcase_add_test(t, read_eval_maps_unknown_to_unk);
  tcase_add_test(t, read_utf8_accepted);
  tcase_add_test(t, err_missing_file);
  tcase_add_test(t, err_directory);
  tcase_add_test(t, err_empty_and_blank);
  tcase_add_test(t, err_invalid_utf8_located);
  tcase_add_test(t, err_nul_byte);
  tcase_add_test(t, err_line_too_long);
  tcase_add_test(t, line_at_the_limit_is_accepted);
  tcase_add_test(t, committed_data_reads);
  suite_add_tcase(s, t);
  t = tcase_create("batches");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 60);
  tcase_add_test(t, stream_tiny_hand_computed);
  tcase_add_test(t, stream_errors);
  tcase_add_test(t, bundles_tiny_hand_computed);
  tcase_add_test(t, bundles_bucketed_hand_computed);
  tcase_add_test(t, bundles_errors);
  suite_add_tcase(s, t);
  t = tcase_create("reference");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 300);                  /* importing torch takes a few seconds */
  tcase_add_test(t, ref_stream_train);
  tcase_add_test(t, ref_stream_valid_b1);
  tcase_add_test(t, ref_stream_odd_sizes);
  tcase_add_test(t, ref_bundles_train);
  tcase_add_test(t, ref_bundles_valid_b60_bptt4);
  tcase_add_test(t, ref_bundles_shifted_pairs);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(corpus_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
