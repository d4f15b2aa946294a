/*
** test_attention_model.c — Problem 2: the node-by-node multi-head
** self-attention (models/problem2.g) against the assignment's numbers, and
** against the matrix form (models/self_attention.g) on random inputs.
*/
#include "testutil.h"
#include "model.h"

static Model *load_run(const char *path, int backward) {
  Err e = {0};
  Model *m = model_load(path, &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert_msg(graph_forward(m->g, &ex) == 0, "%s", e.msg);
  if (backward) ck_assert_msg(graph_backward(m->g, graph_find(m->g, "loss"), &ex) == 0, "%s", e.msg);
  return m;
}
static const float *val(Model *m, const char *name) { Node *n = graph_find(m->g, name); ck_assert_msg(n != NULL, "%s", name); return n->val.data; }

START_TEST(assignment_numbers) {
  Model *m = load_run("models/problem2.g", 0);
  TU_CLOSE(val(m, "z[1]")[0], 1.7616, 5e-5);
  TU_CLOSE(val(m, "z[1]")[1], 4.8808, 5e-5);
  TU_CLOSE(val(m, "z[2]")[0], -1.7616, 5e-5);
  TU_CLOSE(val(m, "z[2]")[1], 5.9526, 5e-5);
  /* intermediate nodes, by hand: head 1 sees x's first coordinate */
  TU_CLOSE(val(m, "q[1,2]")[0], -1, 0);
  TU_CLOSE(val(m, "alpha[2,2,1]")[0], 6, 0);                 /* k[2,2] . q[2,1] = 3 * 2 */
  TU_CLOSE(val(m, "beta[1,1,1]")[0], 1 / (1 + exp(-2.0)), 1e-6);
  TU_CLOSE(val(m, "beta[1,2,2]")[0], 1 / (1 + exp(3.0)), 1e-6);
  TU_CLOSE(val(m, "a[1,1]")[0], tanh(1.0), 1e-6);            /* 0.8808 - 0.1192 */
  TU_CLOSE(val(m, "h[2,1]")[0], 2 + 2 * 0.119203 + 3 * 0.880797, 1e-5);
  model_free(m);
}
END_TEST

/* Random inputs and weights, the same in both files; z[t] must equal row t of Z,
** and the gradients of the two losses (same scalar) must agree too. */
START_TEST(node_form_equals_matrix_form) {
  Rng r; rng_seed(&r, 42 + _i);
  Err e = {0};
  Model *a = model_load("models/problem2.g", &e), *b = model_load("models/self_attention.g", &e);
  ck_assert_msg(a && b, "%s", e.msg);
  char buf[256];
  float x[2][2];
  for (int t = 0; t < 2; t++) for (int j = 0; j < 2; j++) x[t][j] = rng_uniform(&r) * 4 - 2;
  for (int t = 0; t < 2; t++) {
    snprintf(buf, sizeof buf, "x[%d]=[%.6f, %.6f]", t + 1, x[t][0], x[t][1]);
    ck_assert_msg(model_set(a, buf, &e) == 0, "%s", e.msg);
  }
  snprintf(buf, sizeof buf, "X=[[%.6f, %.6f], [%.6f, %.6f]]", x[0][0], x[0][1], x[1][0], x[1][1]);
  ck_assert_msg(model_set(b, buf, &e) == 0, "%s", e.msg);
  const char *ws[] = { "WQ[1]", "WK[1]", "WV[1]", "WQ[2]", "WK[2]", "WV[2]" };
  for (int k = 0; k < 6; k++) {
    snprintf(buf, sizeof buf, "%s=[[%.6f, %.6f]]", ws[k], rng_uniform(&r) * 2 - 1, rng_uniform(&r) * 2 - 1);
    ck_assert_msg(model_set(a, buf, &e) == 0 && model_set(b, buf, &e) == 0, "%s", e.msg);
  }
  float w[4]; for (int k = 0; k < 4; k++) w[k] = rng_uniform(&r) * 2 - 1;
  snprintf(buf, sizeof buf, "W=[[%.6f, %.6f], [%.6f, %.6f]]", w[0], w[1], w[2], w[3]);
  ck_assert_msg(model_set(a, buf, &e) == 0 && model_set(b, buf, &e) == 0, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e;
  ck_assert(graph_forward(a->g, &ex) == 0 && graph_forward(b->g, &ex) == 0);
  ck_assert(graph_backward(a->g, graph_find(a->g, "loss"), &ex) == 0 && graph_backward(b->g, graph_find(b->g, "loss"), &ex) == 0);
  const float *Z = val(b, "Z");
  for (int t = 0; t < 2; t++) {
    snprintf(buf, sizeof buf, "z[%d]", t + 1);
    for (int j = 0; j < 2; j++) TU_CLOSE(val(a, buf)[j], Z[t * 2 + j], 1e-5);
  }
  for (int k = 0; k < 6; k++) {
    const Node *na = graph_find(a->g, ws[k]), *nb = graph_find(b->g, ws[k]);
    for (int j = 0; j < 2; j++) TU_CLOSE(na->grad.data[j], nb->grad.data[j], 1e-4);
  }
  for (int t = 0; t < 2; t++) {
    snprintf(buf, sizeof buf, "x[%d]", t + 1);
    for (int j = 0; j < 2; j++) TU_CLOSE(graph_find(a->g, buf)->grad.data[j], graph_find(b->g, "X")->grad.data[t * 2 + j], 1e-4);
  }
  model_free(a); model_free(b);
}
END_TEST

START_TEST(trace_gradcheck_and_drawing) {
  TuRun r = tu_run("models/problem2.g --trace");
  ck_assert_int_eq(r.status, 0);
  ck_assert_msg(strstr(r.out, "alpha[2,2,1]   = k[2,2] . q[2,1] = [3] . [2] = 6") &&
                strstr(r.out, "beta[1..2,2,2] = softmax(alpha[1,2,2], alpha[2,2,2]) = softmax(6, 9) = [0.0474259, 0.952574]") &&
                strstr(r.out, "beta[2,2,2]    = item 2 of beta[1..2,2,2]") &&
                strstr(r.out, "z[2]") && strstr(r.out, "dloss/dWQ[1] ="), "%.300s", r.out);
  tu_free(&r);
  r = tu_run("models/problem2.g --gradcheck");
  ck_assert_msg(r.status == 0 && strstr(r.out, "dloss/dWK[2]") && strstr(r.out, "all gradients agree"), "%s", r.out);
  tu_free(&r);
  /* one softmax circle per (head, step), joining its alphas to its betas */
  r = tu_run("models/problem2.g --dot");
  int softmaxes = 0;
  for (const char *p = r.out; (p = strstr(p, "label=\"softmax\"")); p++) softmaxes++;
  ck_assert_int_eq(softmaxes, 4);
  tu_free(&r);
  /* --max-index 1: only head 1, step 1 */
  r = tu_run("models/problem2.g --dot --max-index 1");
  ck_assert_msg(strstr(r.out, "label=\"q[1,1]\"") && !strstr(r.out, "q[2,1]") && !strstr(r.out, "q[1,2]") &&
                strstr(r.out, "with an index above 1 are not drawn") && strstr(r.out, "label=\"softmax\""), "%.300s", r.out);
  tu_free(&r);
  r = tu_run("models/problem2.g --dot --no-ops --no-params");
  ck_assert_msg(!strstr(r.out, "shape=circle") && !strstr(r.out, "WQ[1]"), "%s", r.out);
  ck_assert_msg(strstr(r.out, "label=\"alpha[1,1,1]\"") && strstr(r.out, "label=\"beta[2,1,1]\""), "%s", r.out);
  tu_free(&r);
}
END_TEST

/* The worked solution names only what the reader saw, and prints what is 0
** by hand as 0 (issue 12): every name after "/d" in the backward pass is
** one the forward pass printed; the softmax's term stands alone; the
** cancelling sums of Problem 2 show 0 in the trace and the drawing. */
static int printed(const char *fwd, size_t n, const char *name, size_t k) {
  for (const char *p = fwd; (p = strstr(p, name)) && p < fwd + n; p++)
    if (p[-1] == ' ' && p[k] == ' ') {             /* "  line 36  tmp33   = ..." */
      const char *eol = p + k; while (*eol == ' ') eol++;
      const char *bol = p; while (bol > fwd && bol[-1] != '\n') bol--;
      if (*eol == '=' && (strncmp(bol, "  line ", 7) == 0 || strncmp(bol, "  input ", 8) == 0 || strncmp(bol, "  param ", 8) == 0) &&
          strspn(bol + 2, "abcdefghijklmnopqrstuvwxyz0123456789 ") >= (size_t)(p - bol - 2)) return 1;
    }
  return 0;
}
START_TEST(trace_names_what_the_reader_saw) {
  TuRun r = tu_run("models/problem2.g --trace");
  ck_assert_int_eq(r.status, 0);
  const char *back = strstr(r.out, "\nBackward pass");
  ck_assert_ptr_nonnull(back);
  size_t nfwd = (size_t)(back - r.out);
  int names = 0;
  for (const char *p = back; (p = strstr(p, "/d")); p++) {
    size_t k = strspn(p + 2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    if (p[2 + k] == '[') k += strcspn(p + 2 + k, "]") + 1;
    char name[64]; snprintf(name, sizeof name, "%.*s", (int)k, p + 2);
    ck_assert_msg(printed(r.out, nfwd, name, k), "'%s' in the backward pass was not printed by the forward pass", name);
    names++;
  }
  ck_assert_int_gt(names, 100);
  ck_assert_msg(strstr(r.out, "  dloss/dalpha[1,1,1] = beta[1..2,1,1] * (dloss/dbeta[1..2,1,1] - sum(dloss/dbeta[1..2,1,1] * beta[1..2,1,1])) (the part for alpha[1,1,1]) = 0.209987\n") &&
                strstr(r.out, "  dloss/dk[1,2] = dloss/dalpha[2,1,1] * q[1,1] + dloss/dalpha[2,1,2] * q[1,2] = [0]\n") &&
                strstr(r.out, "  dloss/dWK[1] = outer(dloss/dk[1,1], x[1]) + outer(dloss/dk[1,2], x[2]) = [[0, 0]]\n"), "%s", back);
  ck_assert_msg(!strstr(r.out, "e-08"), "%s", back);
  tu_free(&r);
  r = tu_run("models/problem2.g --dot --values");
  ck_assert_msg(r.status == 0 && strstr(r.out, "grad [[0, 0]]") && !strstr(r.out, "e-08"), "%s", r.out);
  tu_free(&r);
  r = tu_run("models/problem2.g --json");                 /* the raw numbers stay */
  ck_assert_msg(r.status == 0 && strstr(r.out, "e-08"), "%s", r.out);
  tu_free(&r);
}
END_TEST

/* A NaN in an anonymous node is named by its expression, not a generated label. */
START_TEST(nan_names_the_expression) {
  const char *src = "input x = -1\n"
                    "y = x * 2\n"
                    "z = 3 * log(y + 0)\n"
                    "output z\n";
  Err e = {0};
  Model *m = model_parse("t.g", src, strlen(src), &e);
  ck_assert_msg(m != NULL, "%s", e.msg);
  Exec ex; memset(&ex, 0, sizeof ex); ex.err = &e; ex.check_finite = 1;
  ck_assert_int_ne(graph_forward(m->g, &ex), 0);
  ck_assert_str_eq(e.msg, "t.g:3:9: error: forward pass: 'log(y + 0)' (log) produced NaN or Inf; input 'y + 0' in [-2, -2]");
  model_free(m);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("attention_model");
  TCase *t = tcase_create("problem2");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, assignment_numbers);
  tcase_add_loop_test(t, node_form_equals_matrix_form, 0, 5);
  tcase_add_test(t, trace_gradcheck_and_drawing);
  tcase_add_test(t, trace_names_what_the_reader_saw);
  tcase_add_test(t, nan_names_the_expression);
  suite_add_tcase(s, t);
  return s;
}
TU_MAIN(suite)
