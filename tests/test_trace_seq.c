/*
** test_trace_seq.c — --trace and --json on the sequence models.
**
** The numbers of the trace against the same training step computed
** independently in PyTorch (float64 autograd, unrolled step by step):
** tests/fixtures/trace_*.txt, written by tests/trace_torch.py from the toy
** models tests/data/trace_*.g (d = 4, batch 2, bptt 4, dropout 0; `make
** fixtures` rewrites them, `make check-torch` recomputes them; PyTorch is
** not needed here).  Each fixture line
** names anchors to find in the trace one after the other and the numbers
** that must follow the last one.  Then, on the models with dropout: every
** question labelled, under 1,000 lines, the dropout masks consistent, the
** carried state equal to the final state; the refusal at d = 100; --json
** with shapes and gradients; the real model files made small by --set d=4
** (a const: the graph is rebuilt) traced and gradient-checked; --set of a
** const giving what the same value written in the file gives.
*/
#include "testutil.h"
#include "model.h"
#include "show.h"
#include "train.h"

/* The trace of a model file, in process. */
static char *trace_of(const char *path, int json, char *err, size_t errsz) {
  Err e = {0};
  Model *m = model_load(path, &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  TrainOpts o; train_opts_init(&o);
  TrainCfg c;
  ck_assert_msg(train_setup(m, &o, &c, &e) == 0, "%s", e.msg);
  char *buf = NULL; size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  int rc = trace_seq(f, m, &c, json, &e);
  fclose(f);
  model_free(m);
  if (err) snprintf(err, errsz, "%s", e.msg);
  if (rc) { free(buf); return NULL; }
  return buf;
}

/* The numbers at p: a bracketed list, or (want > 1) every number on the rest
** of the line, or (want == 1) the first one. */
static int numbers_at(const char *p, double *v, int cap, int want) {
  while (*p == ' ') p++;
  int n = 0;
  if (*p == '[') {
    int depth = 0;
    do {
      if (*p == '[') depth++;
      else if (*p == ']') depth--;
      else if (strchr("-0123456789", *p)) {
        char *end; double x = strtod(p, &end);
        if (n < cap) v[n] = x;
        n++; p = end; continue;
      }
      p++;
    } while (depth > 0 && *p);
    return n;
  }
  while (*p && *p != '\n') {
    while (*p == ' ') p++;
    const char *tok = p;
    while (*p && *p != ' ' && *p != '\n') p++;
    char *end; double x = strtod(tok, &end);
    int whole = end == p || (end + 1 == p && (*end == ',' || *end == ';'));   /* "0.25," */
    if (whole && end != tok) { if (n < cap) v[n] = x; n++; if (want == 1) break; }
  }
  return n;
}

static void check_fixture(const char *model, const char *fixture) {
  char err[512];
  char *tr = trace_of(model, 0, err, sizeof err);
  ck_assert_msg(tr != NULL, "%s: %s", model, err);
  char *fx = tu_fixture(fixture);    /* tests/fixtures/, or $GR_FIXTURES (make check-torch) */
  int checked = 0;
  for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    char *field[16]; int nf = 0;
    for (char *s = line; nf < 16; ) {
      field[nf++] = s;
      char *tab = strchr(s, '\t');
      if (!tab) break;
      *tab = 0; s = tab + 1;
    }
    double want[64]; int nw = 0;
    for (char *s = field[nf - 1], *end; nw < 64; s = end) {
      double x = strtod(s, &end);
      if (end == s) break;
      want[nw++] = x;
    }
    const char *p = tr;
    for (int k = 0; k < nf - 1; k++) {
      const char *q = strstr(p, field[k]);
      ck_assert_msg(q != NULL, "%s: anchor '%s' (field %d of a line whose first is '%s') not in the trace", model, field[k], k + 1, field[0]);
      p = q + strlen(field[k]);
    }
    double got[64];
    int ng = numbers_at(p, got, 64, nw);
    ck_assert_msg(ng == nw, "%s: after '%s' '%s': %d numbers, the fixture has %d", model, field[nf - 3 >= 0 ? nf - 3 : 0], field[nf - 2], ng, nw);
    double scale = 0;
    for (int i = 0; i < nw; i++) if (fabs(want[i]) > scale) scale = fabs(want[i]);
    for (int i = 0; i < nw; i++)
      ck_assert_msg(fabs(got[i] - want[i]) <= 1e-3 * fabs(want[i]) + 2e-4 * scale + 1e-9,
                    "%s: after '%s' '%s': number %d is %.6g, PyTorch %.6g", model, field[nf - 3 >= 0 ? nf - 3 : 0], field[nf - 2], i + 1, got[i], want[i]);
    checked++;
  }
  ck_assert_int_gt(checked, 50);
  free(fx); free(tr);
}

START_TEST(lm_matches_pytorch) { check_fixture("tests/data/trace_lm.g", "trace_lm.txt"); }
END_TEST
START_TEST(cond_lm_matches_pytorch) { check_fixture("tests/data/trace_cond_lm.g", "trace_cond_lm.txt"); }
END_TEST
START_TEST(attn_lm_matches_pytorch) { check_fixture("tests/data/trace_attn_lm.g", "trace_attn_lm.txt"); }
END_TEST

/* The models with dropout, at the tiny size (d = 6, batch 3, bptt 5). */
static const char *tiny[] = { "tests/data/tiny_lm.g", "tests/data/tiny_cond_lm.g", "tests/data/tiny_attn_lm.g" };

START_TEST(every_part_labelled_and_short) {
  char err[512];
  char *tr = trace_of(tiny[_i], 0, err, sizeof err);
  ck_assert_msg(tr != NULL, "%s", err);
  int lines = 0;
  for (const char *s = tr; *s; s++) lines += *s == '\n';
  ck_assert_msg(lines > 150 && lines < 1000, "%s: %d lines", tiny[_i], lines);
  const char *need[] = { "== The data  [question ", "== Forward, node by node  [question 2",
                         "== Backward, last node first  [question 2", "== Clipping and the SGD step  [question 2",
                         "== The carry  [question 3", "mask = ", "i = sigmoid(.) = ", "c_t = ", "h_t = ",
                         "p = ", "loss = mean -log p = ", "-> dh_{t-1} = W_hh^T", "clip 0.25: the norm",
                         "  after    ", "initial state of piece 2: h = " };
  for (size_t k = 0; k < sizeof need / sizeof *need; k++)
    ck_assert_msg(strstr(tr, need[k]) != NULL, "%s: no '%s' in the trace", tiny[_i], need[k]);
  if (_i > 0) {
    ck_assert_msg(strstr(tr, "[question 5]") && strstr(tr, "[question 6]") && strstr(tr, "== A new bundle starts fresh  [question 4"),
                  "%s: encoder / conditioning / fresh bundle not labelled", tiny[_i]);
  }
  if (_i == 2) ck_assert(strstr(tr, "weights softmax:") && strstr(tr, "h~ = tanh(W_c [c ; q]) = ") && strstr(tr, "dscores"));
  free(tr);
}
END_TEST

/* In the lm trace: each dropout 'out' row is the row below times its mask,
** and piece 2's initial state repeats piece 1's final state digit for digit. */
START_TEST(masks_and_carry_consistent) {
  char err[512];
  char *tr = trace_of("tests/data/tiny_lm.g", 0, err, sizeof err);
  ck_assert_msg(tr != NULL, "%s", err);
  /* the first dropout: e = dropout(embed(...)); its input rows are the embedding's */
  const char *emb = strstr(tr, "    t=1: ");
  const char *mask = strstr(tr, "mask = "), *out = strstr(tr, "out  = ");
  ck_assert(emb && mask && out);
  double e[16], mk[16], o[16];
  /* embedding rows of t = 1 are printed as 'word = E[id] = [..]' */
  const char *p = strstr(emb, " = [");
  int ne = numbers_at(p + 3, e, 16, 6);
  ck_assert_int_eq(ne, 6);
  ck_assert_int_eq(numbers_at(mask + 7, mk, 16, 18), 18);
  ck_assert_int_eq(numbers_at(out + 7, o, 16, 18), 18);
  for (int k = 0; k < 6; k++) TU_CLOSE(o[k], e[k] * mk[k], 1e-3 * fabs(e[k] * mk[k]) + 1e-6);
  for (int k = 0; k < 6; k++) ck_assert(mk[k] == 0 || fabs(mk[k] - 1.25) < 1e-9);
  for (int l = 1; l <= 2; l++) {
    char a[64], b[64];
    snprintf(a, sizeof a, "layer %d final state of piece 1: h = ", l);
    snprintf(b, sizeof b, "layer %d initial state of piece 2: h = ", l);
    const char *pa = strstr(tr, a), *pb = strstr(tr, b);
    ck_assert(pa && pb);
    const char *ea = strchr(pa, '\n'), *eb = strchr(pb, '\n');
    ck_assert_msg(ea - pa - strlen(a) == eb - pb - strlen(b) && !memcmp(pa + strlen(a), pb + strlen(b), ea - pa - strlen(a)),
                  "layer %d: carried state differs from the final state", l);
  }
  free(tr);
}
END_TEST

START_TEST(full_size_says_how_to_shrink) {
  TuRun r = tu_run("models/lm.g --trace");
  ck_assert_msg(r.status == 1 && !r.signaled && *r.out == 0, "%d %s", r.status, r.out);
  ck_assert_msg(strstr(r.err, "models/lm.g: error: --trace shows every number") &&
                strstr(r.err, "hidden size 100, batch 20, bptt 35") && strstr(r.err, "--batch 2 --bptt 4"), "%s", r.err);
  tu_free(&r);
  r = tu_run("tests/data/tiny_lm.g --trace --batch 2 --bptt 4");
  ck_assert_msg(r.status == 0 && strstr(r.out, "batch 2, bptt 4"), "%s", r.err);
  tu_free(&r);
}
END_TEST

START_TEST(json_values_grads_shapes) {
  char err[512];
  char *js = trace_of("tests/data/trace_attn_lm.g", 1, err, sizeof err);
  ck_assert_msg(js != NULL, "%s", err);
  const char *need[] = { "\"values\": {", "\"grads\": {", "\"shapes\": {", "\"src\": [7, 2]", "\"x\": [4, 2]",
                         "\"dec.W_c\": [4, 8]", "\"m\": [7, 2, 4]", "\"h\": [4, 2, 4]", "\"loss\": []" };
  for (size_t k = 0; k < sizeof need / sizeof *need; k++) ck_assert_msg(strstr(js, need[k]) != NULL, "no %s in\n%.400s", need[k], js);
  /* the loss of the json is the trace's */
  const char *g = strstr(js, "\"grads\"");
  const char *l = strstr(js, "\"loss\": ");
  ck_assert(l && l < g);
  double lj = strtod(l + 8, NULL);
  char *tr = trace_of("tests/data/trace_attn_lm.g", 0, err, sizeof err);
  const char *lt = strstr(tr, "loss = mean -log p = ");
  ck_assert(lt);
  TU_CLOSE(strtod(lt + 21, NULL), lj, 1e-4 * lj);
  ck_assert_msg(strstr(g, "\"dec.W_in\": [[") != NULL, "no gradient of dec.W_in");
  free(js); free(tr);
}
END_TEST

/* The real model files, made small with --set d=4 (a const: the graph is
** rebuilt from it) and --batch 2 --bptt 4. */
static const char *models[] = { "models/lm.g", "models/cond_lm.g", "models/attn_lm.g" };

START_TEST(real_models_at_toy_size) {
  char args[256];
  snprintf(args, sizeof args, "%s --set d=4 --batch 2 --bptt 4 --trace", models[_i]);
  TuRun r = tu_run(args);
  int lines = 0;
  for (const char *s = r.out; *s; s++) lines += *s == '\n';
  ck_assert_msg(r.status == 0 && lines > 200 && lines < 1000, "%s: status %d, %d lines\n%s", args, r.status, lines, r.err);
  ck_assert_msg(strstr(r.out, "E [1250,4]") && strstr(r.out, "dec.W_hh[1] [16,4]"), "%s: not built at d = 4", args);
  tu_free(&r);
  snprintf(args, sizeof args, "%s --set d=4 --batch 2 --bptt 4 --gradcheck", models[_i]);
  r = tu_run(args);
  ck_assert_msg(r.status == 0 && strstr(r.out, "all gradients agree within"), "%s:\n%s%s", args, r.out, r.err);
  tu_free(&r);
}
END_TEST

/* A const set from the command line is the same as the value written in
** the file: the same graph, or the same located error. */
START_TEST(set_const_rebuilds) {
  TuRun r = tu_run("tests/data/problem2_loops.g --set H=3 --set T=3 --trace");
  ck_assert_msg(r.status == 0 && strstr(r.out, "z[3]") && strstr(r.out, "WQ[3]") && strstr(r.out, "alpha[3,3,3]"), "%s", r.err);
  tu_free(&r);
  char *src = tu_slurp("tests/data/problem2_loops.g");
  char *h = strstr(src, "const H = 2");
  ck_assert(h);
  h[10] = '4';                                          /* const H = 4: d/H = 1.5 */
  char *path = tu_tmpfile(".g", src, strlen(src));
  char args[256];
  snprintf(args, sizeof args, "%s", path);
  TuRun w = tu_run(args);
  r = tu_run("tests/data/problem2_loops.g --set H=4");
  ck_assert_msg(w.status == 1 && r.status == 1 && strstr(r.err, "tests/data/problem2_loops.g:11:18: error: a dimension must be a whole number"),
                "%s", r.err);
  ck_assert_str_eq(strchr(r.err, ':'), strchr(w.err, ':'));    /* the same after the file name */
  tu_free(&r); tu_free(&w);
  unlink(path); free(path); free(src);
  r = tu_run("models/lm.g --set d=0 --trace");
  ck_assert_msg(r.status == 1 && strstr(r.err, "models/lm.g:10:14: error: a dimension must be a whole number from 1 to 2147483647, got 0"), "%s", r.err);
  tu_free(&r);
  r = tu_run("models/lm.g --set E=1 --trace");
  ck_assert_msg(r.status == 1 && strstr(r.err, "--set E: error: 'E' is not a const of models/lm.g"), "%s", r.err);
  tu_free(&r);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("trace_seq");
  TCase *c = tcase_create("trace_seq");
  tcase_set_timeout(c, 300);
  tcase_add_test(c, lm_matches_pytorch);
  tcase_add_test(c, cond_lm_matches_pytorch);
  tcase_add_test(c, attn_lm_matches_pytorch);
  tcase_add_loop_test(c, every_part_labelled_and_short, 0, 3);
  tcase_add_test(c, masks_and_carry_consistent);
  tcase_add_test(c, full_size_says_how_to_shrink);
  tcase_add_test(c, json_values_grads_shapes);
  tcase_add_loop_test(c, real_models_at_toy_size, 0, 3);
  tcase_add_test(c, set_const_rebuilds);
  suite_add_tcase(s, c);
  return s;
}
TU_MAIN(suite)
