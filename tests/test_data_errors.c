/*
** test_data_errors.c — bad data files and oversized models through the
** graphrun binary: each must stop with one line on stderr naming the file
** (and the line, where there is one), exit 1, print nothing on stdout and
** never crash; oversized models are refused before anything is allocated.
*/
#include "testutil.h"
#include <sys/stat.h>
#include "model.h"

static char dir[64];

static void setup(void) { tu_mkdtemp(dir, "data"); }
static void teardown(void) { tu_rmdir(dir); }

/* Writes dir/name; returns its path (static buffer, one at a time). */
static const char *put(const char *name, const char *text, size_t len) {
  static char path[2][256]; static int k;
  k ^= 1;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  FILE *f = fopen(path[k], "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, len, f), len);
  fclose(f);
  return path[k];
}
static const char *puts_(const char *name, const char *text) { return put(name, text, strlen(text)); }

/* The tiny language model of tests/data with its `data` statement (line 1). */
static const char lm_body[] =
  "const d = 4\n"
  "param E: [V, d] ~ uniform(-0.1, 0.1)\n"
  "param bout: [V] = 0\n"
  "block dec = lstm(in = d, hidden = d)\n"
  "h = dec(embed(E, x))\n"
  "loss = cross_entropy(h @ transpose(E) + bout, y)\n"
  "output loss\n"
  "train sgd(lr = 1), batch = 2, bptt = 3, epochs = 1\n";

static const char good[] = "the cat sat\na dog ran\nthe dog sat on the cat\n";

/* Runs `graphrun MODEL --train --epochs 1 --quiet`; checks exit 1, one line
** on stderr starting with want, nothing on stdout. */
static void expect_error(const char *model, const char *want) {
  char args[512];
  snprintf(args, sizeof args, "'%s' --train --epochs 1 --quiet", model);
  TuRun r = tu_run(args);
  ck_assert_msg(!r.signaled, "%s: crashed: %s", model, r.err);
  ck_assert_msg(r.status == 1, "%s: exit %d: %s", model, r.status, r.err);
  ck_assert_msg(!strncmp(r.err, want, strlen(want)), "got:  %swant: %s", r.err, want);
  ck_assert_msg(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "not one line: %s", r.err);
  ck_assert_str_eq(r.out, "");
  tu_free(&r);
}

/* A model whose data statement reads train = T, valid = the good file. */
static const char *lm_with(const char *train_path) {
  const char *valid = puts_("valid.txt", good);
  char *text = malloc(strlen(lm_body) + 1024);
  sprintf(text, "data train = \"%s\", valid = \"%s\"\n%s", train_path, valid, lm_body);
  const char *m = puts_("lm.g", text);
  free(text);
  return m;
}

START_TEST(good_data_trains) {
  /* the harness itself: with good files the model trains */
  const char *m = lm_with(puts_("train.txt", good));
  char args[512];
  snprintf(args, sizeof args, "'%s' --train --epochs 1 --quiet", m);
  TuRun r = tu_run(args);
  ck_assert_msg(r.status == 0, "%s", r.err);
  ck_assert_msg(strstr(r.err, "epoch"), "%s", r.err);
  tu_free(&r);
}
END_TEST

START_TEST(missing_file) {
  char want[512], missing[256];
  snprintf(missing, sizeof missing, "%s/no-such.txt", dir);
  const char *m = lm_with(missing);
  snprintf(want, sizeof want, "%s: error: cannot open: No such file or directory (named by the 'data' statement at %s:1:1; paths are relative to the current directory)", missing, m);
  expect_error(m, want);
}
END_TEST

START_TEST(empty_file) {
  char want[512], p[256];
  snprintf(p, sizeof p, "%s", puts_("empty.txt", ""));
  const char *m = lm_with(p);
  snprintf(want, sizeof want, "%s: error: no sentences (empty or blank file) (named by the 'data' statement at %s:1:1)", p, m);
  expect_error(m, want);
  snprintf(p, sizeof p, "%s", puts_("blank.txt", "\n  \n\t\n"));
  m = lm_with(p);
  snprintf(want, sizeof want, "%s: error: no sentences (empty or blank file)", p);
  expect_error(m, want);
}
END_TEST

START_TEST(ten_megabyte_line) {
  size_t n = 10u << 20;
  char *text = malloc(n + 64);
  size_t k = (size_t)sprintf(text, "a short first line\n");
  for (size_t i = 0; i < n; i += 2) { text[k++] = 'w'; text[k++] = ' '; }
  text[k++] = '\n';
  char want[512], p[256];
  snprintf(p, sizeof p, "%s", put("long.txt", text, k));
  free(text);
  const char *m = lm_with(p);
  snprintf(want, sizeof want, "%s:2: error: line longer than 1048576 bytes (named by the 'data' statement at %s:1:1)", p, m);
  expect_error(m, want);
}
END_TEST

START_TEST(invalid_utf8) {
  char want[512], p[256];
  snprintf(p, sizeof p, "%s", puts_("latin1.txt", "the cat\nna\xefve caf\xe9\nok\n"));
  const char *m = lm_with(p);
  snprintf(want, sizeof want, "%s:2: error: invalid UTF-8 at byte 3 (named by the 'data' statement at %s:1:1)", p, m);
  expect_error(m, want);
  snprintf(p, sizeof p, "%s", put("nul.txt", "a\nb\0c\n", 6));
  m = lm_with(p);
  snprintf(want, sizeof want, "%s:2: error: NUL byte at byte 2", p);
  expect_error(m, want);
}
END_TEST

START_TEST(directory_as_file) {
  char want[512];
  const char *m = lm_with(dir);
  snprintf(want, sizeof want, "%s: error: cannot read: Is a directory", dir);
  expect_error(m, want);
}
END_TEST

/* Translation: a source file with one line fewer than its target. */
START_TEST(source_target_line_counts) {
  char tr[256], va[256], st[256], sv[256], want[2048];
  snprintf(tr, sizeof tr, "%s", puts_("train.txt", "a b\nc d\n\ne f\ng h\n"));   /* line 3 blank */
  snprintf(va, sizeof va, "%s", puts_("valid.txt", "a b\n"));
  snprintf(st, sizeof st, "%s", puts_("src-train.txt", "x y\nz\nw\n"));
  snprintf(sv, sizeof sv, "%s", puts_("src-valid.txt", "x\n"));
  char *text = malloc(2048);
  sprintf(text, "data train = \"%s\", valid = \"%s\",\n  src_train = \"%s\", src_valid = \"%s\"\n"
                "const d = 4\nparam E: [V, d] ~ uniform(-0.1, 0.1)\n"
                "block enc = lstm(in = d, hidden = d)\nblock dec = lstm(in = d, hidden = d)\n"
                "m = enc(embed(E, src), lengths = src_len)\nh = dec(embed(E, x), init = m)\n"
                "loss = cross_entropy(h @ transpose(E), y, ignore = 0)\noutput loss\n", tr, va, st, sv);
  char m[256];
  snprintf(m, sizeof m, "%s", puts_("cond.g", text));
  /* train.txt's 4th sentence (line 5) has no source */
  snprintf(want, sizeof want, "%s:5: error: sentence 4 has no partner: %s has 3 sentences, %s has 4 "
           "(source and target files pair line by line) (named by the 'data' statement at %s:1:1)", tr, st, tr, m);
  expect_error(m, want);
  /* and the other way round, in the validation pair */
  puts_("src-train.txt", "x y\nz\nw\nv\n");
  puts_("src-valid.txt", "x\ny\n");
  snprintf(want, sizeof want, "%s:2: error: sentence 2 has no partner: %s has 2 sentences, %s has 1", sv, sv, va);
  expect_error(m, want);
  free(text);
}
END_TEST

/* Models asking for more memory than any machine has: refused, located,
** before allocating (the runs would take minutes or be killed otherwise). */
START_TEST(too_much_memory) {
  char want[512];
  const char *m = puts_("w.g", "input x = 1\nparam W: [1000000, 1000000] ~ uniform(-1, 1)\noutput x\n");
  snprintf(want, sizeof want, "%s:2:11: error: shape has 1e+12 elements, more than the limit of 2147483648", m);
  expect_error(m, want);
  m = puts_("h.g", "input x = 1\nblock dec = lstm(in = 100, hidden = 60000)\noutput x\n");
  snprintf(want, sizeof want, "%s:2:13: error: block 'dec' would have a weight matrix of 1.44e+10 elements, more than the limit of 2147483648", m);
  expect_error(m, want);
  /* each matrix fits the element limit, all of them need 595 GB */
  m = puts_("l.g", "input x = 1\nblock dec = lstm(in = 100, hidden = 20000, layers = 16)\noutput x\n");
  snprintf(want, sizeof want, "%s:2:13: error: 'dec' needs 595 GB, more than this machine's memory", m);
  expect_error(m, want);
}
END_TEST

/* The memory promised adds up over declarations, blocks and the values of
** operations: with a 1 MB limit, each of these models is refused at the
** statement that goes over it. */
START_TEST(memory_adds_up) {
  model_max_bytes = 1e6;
  struct { const char *src, *msg; } cases[] = {
    { "param A: [50000] = 0\nparam B: [50000] = 0\n",
      "m.g:2:11: error: 'B' needs 0.6 MB (the model 1.2 MB in all), more than the memory limit (1 MB)" },
    { "input x: [200, 200] = 0\ny = x @ x\nz = y @ x\n",
      "m.g:3:7: error: 'matmul' needs 0.32 MB (the model 1.12 MB in all), more than the memory limit (1 MB)" },
    { "block b = lstm(in = 10, hidden = 200)\n",
      "m.g:1:11: error: 'b' needs 2.03 MB, more than the memory limit (1 MB)" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    Err e = {0};
    Model *m = model_parse("m.g", cases[i].src, strlen(cases[i].src), &e);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(e.msg, cases[i].msg);
  }
  model_max_bytes = 0;
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("data_errors");
  TCase *t = tcase_create("data_errors");
  tcase_add_checked_fixture(t, setup, teardown);
  tcase_set_timeout(t, 120);
  tcase_add_test(t, good_data_trains);
  tcase_add_test(t, missing_file);
  tcase_add_test(t, empty_file);
  tcase_add_test(t, ten_megabyte_line);
  tcase_add_test(t, invalid_utf8);
  tcase_add_test(t, directory_as_file);
  tcase_add_test(t, source_target_line_counts);
  tcase_add_test(t, too_much_memory);
  tcase_add_test(t, memory_adds_up);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
