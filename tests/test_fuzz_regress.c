/*
** test_fuzz_regress.c — replays every input in tests/fuzz/regress/NAME/
** through the same harness function the fuzzer runs (tests/fuzz/fuzz_NAME.c,
** compiled in without libFuzzer's main).  A harness aborts on a finding
** (a crash, a sanitizer report, a refusal without a one-line located
** message, a command line that ends in another status than 0, 1 or 2); under `make check-asan` and `make check-valgrind` leaks count
** too.  Then checks the messages a few of those inputs must give.
*/
#include "testutil.h"
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#define FUZZ_NO_MAIN
#include "fuzz/fuzz_common.c"
#include "fuzz/fuzz_model.c"
#include "fuzz/fuzz_set.c"
#include "fuzz/fuzz_ckpt.c"
#include "fuzz/fuzz_argv.c"
#include "fuzz/fuzz_corpus.c"

/* Runs every file of dir through fn; returns how many there were. */
static int replay(const char *dir, int (*fn)(const uint8_t *, size_t)) {
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "no %s", dir);
  struct dirent *de;
  int count = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    uint8_t *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    fn(buf, n);               /* aborts on a finding */
    free(buf);
    count++;
  }
  closedir(d);
  return count;
}

START_TEST(replay_model) { ck_assert_int_ge(replay("tests/fuzz/regress/model", fuzz_model_one), 1); }
END_TEST
START_TEST(replay_set) { ck_assert_int_ge(replay("tests/fuzz/regress/set", fuzz_set_one), 1); }
END_TEST
START_TEST(replay_ckpt) { ck_assert_int_ge(replay("tests/fuzz/regress/ckpt", fuzz_ckpt_one), 1); }
END_TEST
START_TEST(replay_argv) {
  ck_assert_int_ge(replay("tests/fuzz/regress/argv", fuzz_argv_one), 1);
  ck_assert_int_ge(replay("tests/fuzz/seeds/argv", fuzz_argv_one), 1);
}
END_TEST

START_TEST(replay_corpus) {
  ck_assert_int_ge(replay("tests/fuzz/regress/corpus", fuzz_corpus_one), 2);
  ck_assert_int_ge(replay("tests/fuzz/seeds/corpus", fuzz_corpus_one), 3);
}
END_TEST

/* Data files: the seeds are read and cut; a file with a bad byte and a pair
** of files with unequal sentence counts are refused with located messages. */
START_TEST(corpus_seeds_and_refusals) {
  const char *seeds[] = { "tests/fuzz/seeds/corpus/pairs", "tests/fuzz/seeds/corpus/stream",
                          "tests/fuzz/seeds/corpus/crlf_tabs" };
  const char *bad[] = { "tests/fuzz/regress/corpus/invalid_utf8", "tests/fuzz/regress/corpus/unequal_pairs" };
  for (int k = 0; k < 5; k++) {
    const char *path = k < 3 ? seeds[k] : bad[k - 3];
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_msg(fuzz_corpus_one(buf, n) == (k < 3 ? 0 : 1), "%s", path);
  }
}
END_TEST

/* The seeds too: valid inputs must be accepted. */
START_TEST(seeds_accepted) {
  const char *ok[] = { "x=2", "v=[1, -2]", "W=[[1,0],[0,1]]", "W=[[1,0],\n[0,-1/2]]" };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    ck_assert_msg(fuzz_set_one((const uint8_t *)ok[i], strlen(ok[i])) == 0, "%s refused", ok[i]);
  FILE *f = fopen("tests/fuzz/seeds/ckpt/valid.ckpt", "rb");
  ck_assert_ptr_nonnull(f);
  uint8_t buf[256];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  ck_assert_int_eq(fuzz_ckpt_one(buf, n), 0);
  const char *model = "input x: [2] = [1, 2]\nz = sum(relu(x))\noutput z\n";
  ck_assert_int_eq(fuzz_model_one((const uint8_t *)model, strlen(model)), 0);
}
END_TEST

/* libFuzzer refuses a whole dictionary for one entry it cannot read (and
** `make fuzz` then stops at once): each entry is name="value", the value
** escaping only \\, \" and \xHH. */
START_TEST(dictionary_readable) {
  char *dict = tu_slurp("tests/fuzz/model.dict");
  ck_assert_ptr_nonnull(dict);
  int line = 1, entries = 0;
  for (char *l = dict, *end; *l; l = end + (*end == '\n'), line++) {
    end = l + strcspn(l, "\n");
    if (*l == '#' || l == end) continue;
    char *q = memchr(l, '"', (size_t)(end - l));
    ck_assert_msg(q && end[-1] == '"' && end - 1 > q, "model.dict:%d: not name=\"value\"", line);
    for (char *c = q + 1; c < end - 1; c++) {
      if (*c == '"') ck_assert_msg(0, "model.dict:%d: a bare '\"' inside the value", line);
      if (*c != '\\') continue;
      c++;
      int ok = *c == '\\' || *c == '"' || (*c == 'x' && isxdigit((unsigned char)c[1]) && isxdigit((unsigned char)c[2]));
      ck_assert_msg(ok, "model.dict:%d: '\\%c' is not an escape libFuzzer reads (\\\\, \\\", \\xHH)", line, *c);
      if (*c == 'x') c += 2;
    }
    entries++;
  }
  ck_assert_int_ge(entries, 100);
  free(dict);
}
END_TEST

/* A chain of 200000 '+' used to overflow the C stack in the builder. */
START_TEST(long_operator_chain) {
  const char *head = "input x = 1\nz = x";
  size_t n = strlen(head) + 200000 * 4 + 16;
  char *src = malloc(n), *p = src + sprintf(src, "%s", head);
  for (int i = 0; i < 200000; i++) p += sprintf(p, " + x");
  p += sprintf(p, "\noutput z\n");
  ck_assert_int_eq(fuzz_model_one((const uint8_t *)src, (size_t)(p - src)), 1);
  Err e = {0};
  ck_assert_ptr_null(model_parse("t.g", src, (size_t)(p - src), &e));
  ck_assert_str_eq(e.msg, "t.g:2:4007: error: expression more than 1000 operators deep (split it, or use sum(...) over a list)");
  free(src);
}
END_TEST

/* dropout's p was read from the call's second written argument after only
** the expanded count was checked: a range x[1..2] gives two arguments from
** one, and the builder read past the call's kids (found by fuzz_model). */
START_TEST(dropout_of_a_range) {
  const char *src = "for i in 1..2 {\n  input x[i] = 1\n}\ny = sum(dropout(x[1..2]))\noutput y\n";
  Err e = {0};
  ck_assert_ptr_null(model_parse("t.g", src, strlen(src), &e));
  ck_assert_str_eq(e.msg, "t.g:4:9: error: 'dropout' takes (x, p) with p a number");
}
END_TEST

/* --set text with a newline and no '=' is echoed on one line. */
START_TEST(set_messages_one_line) {
  Err e = {0};
  Model *m = model_parse("t.g", "input x = 1\noutput x\n", 21, &e);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_ne(model_set(m, "W[,1]\n[0", &e), 0);
  ck_assert_str_eq(e.msg, "--set W[,1]?[0: error: expected NAME=VALUE, e.g. --set x=2 or --set 'W=[[1,0],[0,1]]'");
  memset(&e, 0, sizeof e);
  ck_assert_int_ne(model_set(m, "a b=1", &e), 0);
  ck_assert_str_eq(e.msg, "--set a b: error: 'a b' is not a name (no spaces or control bytes before '=')");
  model_free(m);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("fuzz_regress");
  TCase *t = tcase_create("fuzz_regress");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, replay_model);
  tcase_add_test(t, replay_set);
  tcase_add_test(t, replay_ckpt);
  tcase_add_test(t, replay_argv);
  tcase_add_test(t, replay_corpus);
  tcase_add_test(t, corpus_seeds_and_refusals);
  tcase_add_test(t, seeds_accepted);
  tcase_add_test(t, dictionary_readable);
  tcase_add_test(t, long_operator_chain);
  tcase_add_test(t, set_messages_one_line);
  tcase_add_test(t, dropout_of_a_range);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
