/*
** test_lstm.c — checks the fused sequence kernels (lstm.c) against hand
** numbers, plain per-step implementations written here, and central finite
** differences.
*/
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lstm.h"

/* ---- test helpers ------------------------------------------------------- */

/* Test-local data generator (independent of util.c's Rng). */
static unsigned long long tseed = 12345;
static double trand(void) {   /* [0,1) */
  tseed = tseed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(tseed >> 11) / 9007199254740992.0;
}
static float tunif(float lo, float hi) { return lo + (hi - lo) * (float)trand(); }
static void fill(float *p, long n, float lo, float hi) { for (long i = 0; i < n; i++) p[i] = tunif(lo, hi); }
static float *fnew(long n) { float *p = calloc((size_t)(n ? n : 1), sizeof *p); ck_assert_ptr_nonnull(p); return p; }

/* |a-b| <= atol + rtol*max(|a|,|b|), with a located message. */
static void close_at(double a, double b, double atol, double rtol, const char *what, long idx) {
  double tol = atol + rtol * fmax(fabs(a), fabs(b));
  ck_assert_msg(fabs(a - b) <= tol, "%s[%ld]: %.8g vs %.8g (tol %.3g)", what, idx, a, b, tol);
}
static void close_vec(const float *a, const float *b, long n, double atol, double rtol, const char *what) {
  for (long i = 0; i < n; i++) close_at(a[i], b[i], atol, rtol, what, i);
}

/* ---- cell --------------------------------------------------------------- */

START_TEST(cell_fwd_hand) {
  /* Row 0: all pre-activations 0, c_prev = 1 -> i=f=o=.5, g=0, c=.5, h=.5*tanh(.5).
  ** Row 1: i=.75 (ln 3), f=.5, g=.5 (atanh .5), o=.25 (-ln 3), c_prev=2
  **        -> c = .5*2 + .75*.5 = 1.375, h = .25*tanh(1.375).            */
  float g[8] = {0, 0, 0, 0, logf(3.0f), 0, atanhf(0.5f), -logf(3.0f)};
  float cp[2] = {1, 2}, c[2], h[2];
  lstm_cell_fwd(2, 1, g, cp, c, h);
  ck_assert_float_eq_tol(c[0], 0.5f, 1e-7f);
  ck_assert_float_eq_tol(h[0], 0.23105857863f, 1e-7f);
  ck_assert_float_eq_tol(c[1], 1.375f, 1e-6f);
  ck_assert_float_eq_tol(h[1], 0.21995667491f, 1e-7f);
  float want[8] = {0.5f, 0.5f, 0, 0.5f, 0.75f, 0.5f, 0.5f, 0.25f};
  close_vec(g, want, 8, 1e-6, 0, "activated gates");
}
END_TEST

/* Loss of one cell step: sum(wh*h) + sum(wc*c), accumulated in double. */
static double cell_loss(int B, int H, const float *pre, const float *cp, const float *wh, const float *wc) {
  float *g = fnew(4L * B * H), *c = fnew((long)B * H), *h = fnew((long)B * H);
  memcpy(g, pre, sizeof(float) * 4 * B * H);
  lstm_cell_fwd(B, H, g, cp, c, h);
  double L = 0;
  for (int k = 0; k < B * H; k++) L += (double)wh[k] * h[k] + (double)wc[k] * c[k];
  free(g); free(c); free(h);
  return L;
}

START_TEST(cell_bwd_fd) {
  int B = 3, H = 5, n = B * H;
  float *pre = fnew(4 * n), *cp = fnew(n), *wh = fnew(n), *wc = fnew(n);
  fill(pre, 4 * n, -2, 2); fill(cp, n, -1.5f, 1.5f); fill(wh, n, -1, 1); fill(wc, n, -1, 1);
  float *g = fnew(4 * n), *c = fnew(n), *h = fnew(n), *dg = fnew(4 * n), *dcp = fnew(n);
  memcpy(g, pre, sizeof(float) * 4 * n);
  lstm_cell_fwd(B, H, g, cp, c, h);
  lstm_cell_bwd(B, H, g, cp, c, wh, wc, dg, dcp);
  const float eps = 1e-2f;
  for (int k = 0; k < 4 * n; k++) {
    float s = pre[k];
    pre[k] = s + eps; double lp = cell_loss(B, H, pre, cp, wh, wc);
    pre[k] = s - eps; double lm = cell_loss(B, H, pre, cp, wh, wc);
    pre[k] = s;
    close_at(dg[k], (lp - lm) / (2 * eps), 2e-4, 2e-3, "dgates", k);
  }
  for (int k = 0; k < n; k++) {
    float s = cp[k];
    cp[k] = s + eps; double lp = cell_loss(B, H, pre, cp, wh, wc);
    cp[k] = s - eps; double lm = cell_loss(B, H, pre, cp, wh, wc);
    cp[k] = s;
    close_at(dcp[k], (lp - lm) / (2 * eps), 2e-4, 2e-3, "dc_prev", k);
  }
  /* dc = NULL means zero: same as passing zeros. */
  float *z = fnew(n), *dg2 = fnew(4 * n), *dcp2 = fnew(n), *dg3 = fnew(4 * n), *dcp3 = fnew(n);
  lstm_cell_bwd(B, H, g, cp, c, wh, NULL, dg2, dcp2);
  lstm_cell_bwd(B, H, g, cp, c, wh, z, dg3, dcp3);
  close_vec(dg2, dg3, 4 * n, 0, 0, "dgates(dc=NULL)");
  close_vec(dcp2, dcp3, n, 0, 0, "dc_prev(dc=NULL)");
  free(pre); free(cp); free(wh); free(wc); free(g); free(c); free(h); free(dg); free(dcp);
  free(z); free(dg2); free(dcp2); free(dg3); free(dcp3);
}
END_TEST

static Suite *lstm_suite(void) {
  Suite *s = suite_create("lstm");
  TCase *tc = tcase_create("cell");
  tcase_add_test(tc, cell_fwd_hand);
  tcase_add_test(tc, cell_bwd_fd);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(lstm_suite());
  srunner_run_all(sr, CK_NORMAL);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? 1 : 0;
}
