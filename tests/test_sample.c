/*
** test_sample.c — sample.c: the draw (specials never drawn, temperature and
** top-k against hand-computed cumulative probabilities) and --generate end
** to end (specials, --max-len, --prompt, --top-k, translation models
** conditioned on their --sentences sources, which greedy decoding must
** reproduce at --top-k 1).
*/
#include "testutil.h"
#include "sample.h"
#include "corpus.h"

/* ids: 0 <pad>, 1 <eos>, 2 <sos>, 3 <unk>, 4, 5.  <pad> and <sos> get the
** largest logits; the others weigh 1, 2, 3, 1 at temperature 1. */
static const float Z[6] = { 50, 0, 50, 0.693147181f, 1.098612289f, 0 };

START_TEST(pick_never_specials) {
  int scratch[6];
  for (int i = 0; i < 1000; i++) {
    int t = sample_pick(Z, 6, 1, 0, i / 1000.0, scratch);
    ck_assert_msg(t != CORPUS_PAD && t != CORPUS_SOS, "u = %g drew %d", i / 1000.0, t);
  }
}
END_TEST

START_TEST(pick_by_cumulative_probability) {
  int scratch[6];
  struct { double T; int k; double u; int want; } c[] = {
    /* T = 1: weights 1, 2, 3, 1 of 7 -> cumulative 1/7, 3/7, 6/7, 1 */
    { 1, 0, 0.0, 1 }, { 1, 0, 0.142, 1 }, { 1, 0, 0.143, 3 }, { 1, 0, 0.428, 3 }, { 1, 0, 0.429, 4 },
    { 1, 0, 0.857, 4 }, { 1, 0, 0.858, 5 }, { 1, 0, 0.999, 5 },
    /* T = 2: weights 1, sqrt 2, sqrt 3, 1 -> cumulative .19432, .46913, .80569, 1 */
    { 2, 0, 0.194, 1 }, { 2, 0, 0.195, 3 }, { 2, 0, 0.469, 3 }, { 2, 0, 0.470, 4 }, { 2, 0, 0.805, 4 }, { 2, 0, 0.806, 5 },
    /* top 2: ids 3 and 4, weights 2 and 3 -> cumulative .4, 1 */
    { 1, 2, 0.399, 3 }, { 1, 2, 0.401, 4 }, { 1, 2, 0.999, 4 },
    /* top 1: the most probable, whatever u */
    { 1, 1, 0.0, 4 }, { 1, 1, 0.999, 4 }, { 0.01, 0, 0.5, 4 },
    /* top 3: ids 1 and 5 tie at 0, the lower id stays: 1, 3, 4 weigh 1, 2, 3 of 6 */
    { 1, 3, 0.166, 1 }, { 1, 3, 0.167, 3 }, { 1, 3, 0.999, 4 },
  };
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    int t = sample_pick(Z, 6, c[i].T, c[i].k, c[i].u, scratch);
    ck_assert_msg(t == c[i].want, "T %g, top-k %d, u %g: drew %d, want %d", c[i].T, c[i].k, c[i].u, t, c[i].want);
  }
}
END_TEST

static int count(const char *s, const char *sub) {
  int k = 0;
  for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub)) k++;
  return k;
}
static int words(const char *line) {          /* words up to the end of the line */
  int n = 0, in = 0;
  for (; *line && *line != '\n'; line++) { if (*line != ' ' && !in) n++; in = *line != ' '; }
  return n;
}

/* 200 samples of an untrained model: no <pad>, no <sos> (the old sampler
** drew them), every line ends at <eos> or --max-len, with a note for each
** sample cut. */
START_TEST(generate_specials_and_max_len) {
  TuRun r = tu_run("tests/data/tiny_lm.g --generate 200 --max-len 4 --temperature 3");
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_int_eq(count(r.out, "\n"), 200);
  ck_assert_msg(!strstr(r.out, "<pad>") && !strstr(r.out, "<sos>"), "%s", r.out);
  int full = 0;
  for (const char *l = r.out; *l; l = strchr(l, '\n') + 1) {
    ck_assert_int_le(words(l), 4);
    full += words(l) == 4;
  }
  int notes = count(r.err, "stopped at --max-len 4 words, before <eos>");
  ck_assert_msg(notes > 0 && notes <= full, "%d notes, %d lines of 4 words\n%s", notes, full, r.err);
  tu_free(&r);
}
END_TEST

START_TEST(generate_prompt_and_top_k) {
  TuRun r = tu_run("tests/data/tiny_lm.g --generate 3 --top-k 1 --max-len 12 --prompt 'the cat'");
  ck_assert_msg(r.status == 0, "%s", r.err);
  const char *l2 = strchr(r.out, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
  ck_assert_msg(!strncmp(r.out, "the cat", 7) && !strncmp(r.out, l2, (size_t)(l2 - r.out)) && !strncmp(r.out, l3, (size_t)(l2 - r.out)),
                "top-k 1 must give the same sentence each time:\n%s", r.out);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm.g --generate 2 --prompt 'the zebra'");
  ck_assert_msg(r.status == 0 && strstr(r.err, "--prompt: 'zebra' is not in the vocabulary; read as <unk>"), "%s", r.err);
  ck_assert_msg(!strncmp(r.out, "the <unk>", 9), "%s", r.out);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm.g --generate 2 --prompt '<pad> cat'");
  ck_assert_msg(r.status == 1 && strstr(r.err, "--prompt: error: '<pad>' is a special token, not a word"), "%s", r.err);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm.g --generate 2 --temperature 0");
  ck_assert_msg(r.status == 2 && strstr(r.err, "--temperature needs a number from 0.001 to 1000, got '0'"), "%s", r.err);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm.g --eval tests/data/tiny-valid.txt --top-k 3");
  ck_assert_msg(r.status == 2 && strstr(r.err, "--top-k goes with --generate"), "%s", r.err);
  tu_free(&r);
}
END_TEST

/* A translation model samples for each source of --sentences (the old
** sampler failed on attn_lm and ignored the source on cond_lm); at --top-k 1
** the sample is the greedy translation of that source. */
START_TEST(generate_conditions_on_the_source) {
  static const char *models[] = { "tests/data/tiny_attn_lm.g", "tests/data/tiny_cond_lm.g" };
  char ck[] = "/tmp/gr_smpXXXXXX", args[512];
  close(mkstemp(ck));
  snprintf(args, sizeof args, "%s --train --epochs 15 --quiet --save %s", models[_i], ck);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  tu_free(&r);
  snprintf(args, sizeof args, "%s --load %s --generate 2 --top-k 1 --sentences 2,3", models[_i], ck);
  r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  snprintf(args, sizeof args, "%s --load %s --translate tests/data/tiny-src-valid.txt", models[_i], ck);
  TuRun t = tu_run(args);
  ck_assert_msg(t.status == 0, "%s", t.err);
  char *tl[8], *save;
  int n = 0;
  for (char *p = strtok_r(t.out, "\n", &save); p && n < 8; p = strtok_r(NULL, "\n", &save)) tl[n++] = p;
  ck_assert_int_eq(n, 8);
  char want[1024];
  snprintf(want, sizeof want, "# sentence 2 of tests/data/tiny-src-valid.txt: the cat ran on the mat .\n%s\n%s\n"
           "# sentence 3 of tests/data/tiny-src-valid.txt: the dog sat on the mat .\n%s\n%s\n", tl[1], tl[1], tl[2], tl[2]);
  ck_assert_str_eq(r.out, want);
  tu_free(&r); tu_free(&t);
  unlink(ck);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("sample");
  TCase *t = tcase_create("sample");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, pick_never_specials);
  tcase_add_test(t, pick_by_cumulative_probability);
  tcase_add_test(t, generate_specials_and_max_len);
  tcase_add_test(t, generate_prompt_and_top_k);
  tcase_add_loop_test(t, generate_conditions_on_the_source, 0, 2);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
