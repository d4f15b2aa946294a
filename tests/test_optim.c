/*
** test_optim.c — Adam (optim.c) against steps computed by hand and against
** numbers torch.optim.Adam printed (PyTorch 1.13; the script is in the
** comment), and the graph-level step against the element-level one.
*/
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "optim.h"
#include "par.h"

static void close_at(double a, double b, double tol, const char *what, int i) {
  ck_assert_msg(fabs(a - b) <= tol * fmax(1, fabs(b)), "%s[%d]: %.9g vs %.9g", what, i, a, b);
}

/* lr 0.1, betas .9/.999, eps 1e-8; gradients 0.5, -1, 0.25 from w = 1:
**   t=1: m = .05, v = .00025; w = 1 - .1 * (.05/.1) / (sqrt(.00025/.001) + 1e-8) = 0.9
**   t=2: m = -.055, v = .00124975;
**        w = .9 + .1/.19 * .055 / (sqrt(.00124975)/sqrt(.001999) + 1e-8) = 0.936610354
**   t=3: m = -.0245, v = .00131100025; w = 0.950279420                      */
START_TEST(hand_steps) {
  float w = 1, m = 0, v = 0, g[3] = {0.5f, -1.0f, 0.25f};
  double want_w[3] = {0.9, 0.9366103542, 0.9502794203}, want_m[3] = {0.05, -0.055, -0.0245};
  double want_v[3] = {0.00025, 0.00124975, 0.00131100025};
  for (int t = 1; t <= 3; t++) {
    adam_update(1, &w, &g[t - 1], 1.0f, &m, &v, 0.1, 0.9, 0.999, 1e-8, t, 1);
    close_at(w, want_w[t - 1], 1e-6, "w", t);
    close_at(m, want_m[t - 1], 1e-6, "m", t);
    close_at(v, want_v[t - 1], 1e-6, "v", t);
  }
}
END_TEST

/* torch.optim.Adam([w], lr=1e-2, betas=(0.8, 0.99), eps=1e-6), w = [.5,-1,2,0],
** five steps with w.grad = 0.5 * G[k]; printed w, exp_avg, exp_avg_sq.
** Here the 0.5 is the gradient scale (what clipping passes). */
START_TEST(torch_fixture) {
  float w[4] = {0.5f, -1, 2, 0}, m[4] = {0}, v[4] = {0};
  float G[5][4] = {{1, -2, 0.5f, 0}, {0.5f, 0.5f, -3, 1e-4f}, {-1, 2, 1, -1e-4f}, {2, 0, 0, 3}, {0.1f, -0.1f, 4, -2}};
  for (int t = 1; t <= 5; t++) adam_update(4, w, G[t - 1], 0.5f, m, v, 1e-2, 0.8, 0.99, 1e-6, t, 1);
  double tw[4] = {0.470594972, -0.992119908, 1.99664938, -0.0141020194};
  double tm[4] = {0.172560021, 0.0616799928, 0.330880016, 0.0399987251};
  double tv[4] = {0.0153831774, 0.020038398, 0.0648823529, 0.0322749987};
  for (int i = 0; i < 4; i++) {
    close_at(w[i], tw[i], 1e-6, "w", i);
    close_at(m[i], tm[i], 1e-6, "m", i);
    close_at(v[i], tv[i], 1e-6, "v", i);
  }
}
END_TEST

/* A parameter of multiplicity 2 moves twice as far; moments are unchanged. */
START_TEST(multiplicity) {
  float w1 = 1, w2 = 1, m1 = 0, v1 = 0, m2 = 0, v2 = 0, g = 0.3f;
  for (int t = 1; t <= 2; t++) {
    adam_update(1, &w1, &g, 1, &m1, &v1, 0.01, 0.9, 0.999, 1e-8, t, 1);
    adam_update(1, &w2, &g, 1, &m2, &v2, 0.01, 0.9, 0.999, 1e-8, t, 2);
  }
  close_at(1 - w2, 2 * (1 - w1), 1e-6, "step", 0);
  ck_assert_float_eq(m1, m2);
  ck_assert_float_eq(v1, v2);
}
END_TEST

/* adam_step over a graph = adam_update per parameter with the shared step
** count; a parameter without a gradient does not move; large parameters
** split over the pool give the same numbers. */
START_TEST(graph_step) {
  par_init(2);
  Graph *g = graph_new("t.g");
  Loc loc = { "t.g", 1, 1 };
  enum { N = 40000 };
  float *a0 = malloc(sizeof(float) * N), b0[3] = {1, 2, 3}, c0[2] = {5, 6};
  for (int i = 0; i < N; i++) a0[i] = (float)sin(i);
  Tensor ta = { 1, { N }, N, a0 }, tb = { 1, { 3 }, 3, b0 }, tc = { 1, { 2 }, 2, c0 };
  Node *A = graph_leaf(g, N_PARAM, "A", loc, &ta), *Bn = graph_leaf(g, N_PARAM, "B", loc, &tb);
  Node *C = graph_leaf(g, N_PARAM, "C", loc, &tc);
  Bn->sgd_mult = 2;
  A->grad.data = malloc(sizeof(float) * N); Bn->grad.data = malloc(sizeof(float) * 3);
  for (int i = 0; i < N; i++) A->grad.data[i] = (float)cos(3 * i);
  for (int i = 0; i < 3; i++) Bn->grad.data[i] = 0.1f * (i + 1);
  Adam ad; adam_init(&ad, g, 0.9, 0.98, 1e-9);
  ck_assert_int_eq(ad.np, 3);
  float *wa = malloc(sizeof(float) * N), *ma = calloc(N, sizeof(float)), *va = calloc(N, sizeof(float));
  float wb[3], mb[3] = {0}, vb[3] = {0};
  memcpy(wa, a0, sizeof(float) * N); memcpy(wb, b0, sizeof wb);
  par_init(1);
  for (int t = 1; t <= 3; t++) {
    adam_update(N, wa, A->grad.data, 0.7f, ma, va, 1e-3, 0.9, 0.98, 1e-9, t, 1);
    adam_update(3, wb, Bn->grad.data, 0.7f, mb, vb, 1e-3, 0.9, 0.98, 1e-9, t, 2);
  }
  par_init(2);
  for (int t = 1; t <= 3; t++) adam_step(&ad, 1e-3, 0.7);
  ck_assert_int_eq(ad.t, 3);
  for (int i = 0; i < N; i++) ck_assert_float_eq(A->val.data[i], wa[i]);
  for (int i = 0; i < 3; i++) ck_assert_float_eq(Bn->val.data[i], wb[i]);
  ck_assert_float_eq(C->val.data[0], 5);
  ck_assert_float_eq(C->val.data[1], 6);
  ck_assert(A->val.data[7] != a0[7]);
  adam_free(&ad);
  graph_free(g);
  free(a0); free(wa); free(ma); free(va);
  par_init(1);
}
END_TEST

static Suite *optim_suite(void) {
  Suite *s = suite_create("optim");
  TCase *c = tcase_create("adam");
  tcase_add_test(c, hand_steps);
  tcase_add_test(c, torch_fixture);
  tcase_add_test(c, multiplicity);
  tcase_add_test(c, graph_step);
  suite_add_tcase(s, c);
  return s;
}

TU_MAIN(optim_suite)
