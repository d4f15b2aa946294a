/*
** test_tfm.c — checks the fused Transformer kernels (tfm.c) against hand
** numbers, a plain-loop reference written here in double (one nested loop
** per formula of tfm.h, no BLAS), and central finite differences.
*/
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tfm.h"
#include "par.h"

/* ---- test helpers ------------------------------------------------------------ */

/* Test-local data generator (independent of util.c's Rng). */
static unsigned long long tseed = 4242;
static double trand(void) {
  tseed = tseed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(tseed >> 11) / 9007199254740992.0;
}
static void fill(float *p, long n, float lo, float hi) { for (long i = 0; i < n; i++) p[i] = lo + (hi - lo) * (float)trand(); }
static float *fnew(long n) { float *p = calloc((size_t)(n ? n : 1), sizeof *p); ck_assert_ptr_nonnull(p); return p; }

static void close_at(double a, double b, double atol, double rtol, const char *what, long idx) {
  double tol = atol + rtol * fmax(fabs(a), fabs(b));
  ck_assert_msg(fabs(a - b) <= tol, "%s[%ld]: %.8g vs %.8g (tol %.3g)", what, idx, a, b, tol);
}

/* ---- layer norm ---------------------------------------------------------------- */

START_TEST(ln_hand) {
  /* x = [1,2,3,6]: mean 3, var (4+1+0+9)/4 = 3.5; eps 0.5 -> rstd 1/2.
  ** y = (x-3)/2 * g + b with g = [1,2,1,1], b = [0,0,1,0]: [-1, -1, 1, 1.5]. */
  float x[4] = {1, 2, 3, 6}, g[4] = {1, 2, 1, 1}, b[4] = {0, 0, 1, 0}, y[4], mu, rs;
  tfm_ln_fwd(1, 4, x, g, b, 0.5f, y, &mu, &rs);
  float want[4] = {-1, -1, 1, 1.5f};
  for (int k = 0; k < 4; k++) close_at(y[k], want[k], 1e-6, 0, "y", k);
  close_at(mu, 3, 1e-6, 0, "mean", 0);
  close_at(rs, 0.5, 1e-6, 0, "rstd", 0);
}
END_TEST

/* sum(wy * LN(x)) in double */
static double ln_loss(long N, int d, const float *x, const float *g, const float *b, const float *wy) {
  float *y = fnew(N * d);
  tfm_ln_fwd(N, d, x, g, b, 1e-5f, y, NULL, NULL);
  double L = 0;
  for (long i = 0; i < N * d; i++) L += (double)wy[i] * y[i];
  free(y);
  return L;
}

START_TEST(ln_bwd_fd) {
  const long N = 3; const int d = 6;
  float *x = fnew(N * d), *g = fnew(d), *b = fnew(d), *wy = fnew(N * d), *y = fnew(N * d);
  float *mu = fnew(N), *rs = fnew(N), *dx = fnew(N * d), *dg = fnew(d), *db = fnew(d);
  fill(x, N * d, -2, 2); fill(g, d, 0.5f, 1.5f); fill(b, d, -1, 1); fill(wy, N * d, -1, 1);
  tfm_ln_fwd(N, d, x, g, b, 1e-5f, y, mu, rs);
  for (long i = 0; i < N * d; i++) dx[i] = 0.5f;   /* backward adds: start from a known value */
  Arena a; arena_init(&a, 1 << 16);
  tfm_ln_bwd(N, d, x, g, mu, rs, wy, dx, dg, db, &a);
  const float eps = 1e-2f;
  struct { float *p, *grad; long n; const char *name; float base; } v[3] = {
    { x, dx, N * d, "dx", 0.5f }, { g, dg, d, "dg", 0 }, { b, db, d, "db", 0 } };
  for (int w = 0; w < 3; w++)
    for (long k = 0; k < v[w].n; k++) {
      float s = v[w].p[k];
      v[w].p[k] = s + eps; double lp = ln_loss(N, d, x, g, b, wy);
      v[w].p[k] = s - eps; double lm = ln_loss(N, d, x, g, b, wy);
      v[w].p[k] = s;
      close_at(v[w].grad[k] - v[w].base, (lp - lm) / (2 * eps), 2e-3, 1e-2, v[w].name, k);
    }
  arena_free(&a);
  free(x); free(g); free(b); free(wy); free(y); free(mu); free(rs); free(dx); free(dg); free(db);
}
END_TEST

/* ---- attention ------------------------------------------------------------------- */

START_TEST(causal_softmax_hand) {
  /* row 1 of a 3x3: softmax over [ln 1, ln 3] = [.25, .75], the future 0 */
  float r[3] = {0, logf(3.0f), 7};
  tfm_causal_softmax_row(3, 1, r);
  close_at(r[0], 0.25, 1e-6, 0, "p", 0);
  close_at(r[1], 0.75, 1e-6, 0, "p", 1);
  close_at(r[2], 0, 0, 0, "p", 2);
  float r0[2] = {-50, 50};
  tfm_causal_softmax_row(2, 0, r0);
  close_at(r0[0], 1, 0, 0, "p0", 0);
  close_at(r0[1], 0, 0, 0, "p0", 1);
}
END_TEST

/* Plain loops: out[t,b,h*dh+j] = sum_{s<=t} softmax_s(q.k/sqrt(dh)) v. */
static void ref_attn(int T, int B, int H, int dh, const double *qkv, double *out, double *P) {
  const int d = H * dh;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int t = 0; t < T; t++) {
        double sc[64], m = -1e300, z = 0;
        for (int s = 0; s <= t; s++) {
          double a = 0;
          for (int j = 0; j < dh; j++)
            a += qkv[((long)t * B + b) * 3 * d + h * dh + j] * qkv[((long)s * B + b) * 3 * d + d + h * dh + j];
          sc[s] = a / sqrt((double)dh);
          m = fmax(m, sc[s]);
        }
        for (int s = 0; s <= t; s++) { sc[s] = exp(sc[s] - m); z += sc[s]; }
        for (int s = 0; s < T; s++)
          if (P) P[(((long)b * H + h) * T + t) * T + s] = s <= t ? sc[s] / z : 0;
        for (int j = 0; j < dh; j++) {
          double o = 0;
          for (int s = 0; s <= t; s++) o += sc[s] / z * qkv[((long)s * B + b) * 3 * d + 2 * d + h * dh + j];
          out[((long)t * B + b) * d + h * dh + j] = o;
        }
      }
}

START_TEST(attn_fwd_ref) {
  const int T = 5, B = 3, H = 2, dh = 4, d = H * dh;
  const long N = (long)T * B;
  float *qkv = fnew(N * 3 * d), *P = fnew((long)B * H * T * T), *out = fnew(N * d);
  double *dq = calloc(N * 3 * d, sizeof *dq), *ro = calloc(N * d, sizeof *ro), *rP = calloc((size_t)B * H * T * T, sizeof *rP);
  fill(qkv, N * 3 * d, -2, 2);
  for (long i = 0; i < N * 3 * d; i++) dq[i] = qkv[i];
  tfm_attn_fwd(T, B, H, dh, qkv, P, out);
  ref_attn(T, B, H, dh, dq, ro, rP);
  for (long i = 0; i < N * d; i++) close_at(out[i], ro[i], 1e-5, 1e-5, "out", i);
  for (long i = 0; i < (long)B * H * T * T; i++) close_at(P[i], rP[i], 1e-6, 1e-5, "P", i);
  /* causality: changing the last step's q, k, v changes no earlier output */
  float *out2 = fnew(N * d);
  for (long i = (long)(T - 1) * B * 3 * d; i < N * 3 * d; i++) qkv[i] += 1.0f;
  tfm_attn_fwd(T, B, H, dh, qkv, P, out2);
  for (long i = 0; i < (long)(T - 1) * B * d; i++) ck_assert_float_eq(out[i], out2[i]);
  int changed = 0;
  for (long i = (long)(T - 1) * B * d; i < N * d; i++) changed += out[i] != out2[i];
  ck_assert_int_gt(changed, 0);
  free(qkv); free(P); free(out); free(out2); free(dq); free(ro); free(rP);
}
END_TEST

static double attn_loss(int T, int B, int H, int dh, const float *qkv, const float *wo) {
  const long n = (long)T * B * H * dh;
  float *P = fnew((long)B * H * T * T), *out = fnew(n);
  tfm_attn_fwd(T, B, H, dh, qkv, P, out);
  double L = 0;
  for (long i = 0; i < n; i++) L += (double)wo[i] * out[i];
  free(P); free(out);
  return L;
}

START_TEST(attn_bwd_fd) {
  const int T = 4, B = 2, H = 2, dh = 3, d = H * dh;
  const long N = (long)T * B;
  float *qkv = fnew(N * 3 * d), *wo = fnew(N * d), *P = fnew((long)B * H * T * T), *out = fnew(N * d);
  float *dqkv = fnew(N * 3 * d), *scr = fnew((long)B * H * T * T);
  fill(qkv, N * 3 * d, -1.5f, 1.5f); fill(wo, N * d, -1, 1);
  tfm_attn_fwd(T, B, H, dh, qkv, P, out);
  tfm_attn_bwd(T, B, H, dh, qkv, P, wo, dqkv, scr);
  const float eps = 1e-2f;
  for (long k = 0; k < N * 3 * d; k++) {
    float s = qkv[k];
    qkv[k] = s + eps; double lp = attn_loss(T, B, H, dh, qkv, wo);
    qkv[k] = s - eps; double lm = attn_loss(T, B, H, dh, qkv, wo);
    qkv[k] = s;
    close_at(dqkv[k], (lp - lm) / (2 * eps), 1e-3, 1e-2, "dqkv", k);
  }
  free(qkv); free(wo); free(P); free(out); free(dqkv); free(scr);
}
END_TEST

/* ---- whole layers -------------------------------------------------------------------- */

typedef struct Net {
  int T, B, d, H, F, L;
  float *w[4][TFM_NW], *dw[4][TFM_NW];
  TfmLayer layer[4];
} Net;

static long psize(const Net *n, int k) {
  int r, c;
  tfm_param_shape(k, n->d, n->F, &r, &c);
  return (long)r * (c ? c : 1);
}

static void net_init(Net *n, int T, int B, int d, int H, int F, int L) {
  *n = (Net){ .T = T, .B = B, .d = d, .H = H, .F = F, .L = L };
  for (int l = 0; l < L; l++)
    for (int k = 0; k < TFM_NW; k++) {
      long s = psize(n, k);
      n->w[l][k] = fnew(s); n->dw[l][k] = fnew(s);
      if (k == TFM_LN1_G || k == TFM_LN2_G) fill(n->w[l][k], s, 0.5f, 1.5f);
      else fill(n->w[l][k], s, -0.6f, 0.6f);
      n->layer[l].w[k] = n->w[l][k]; n->layer[l].dw[k] = n->dw[l][k];
    }
}
static void net_free(Net *n) {
  for (int l = 0; l < n->L; l++)
    for (int k = 0; k < TFM_NW; k++) { free(n->w[l][k]); free(n->dw[l][k]); }
}

static TfmRun net_run(const Net *n, float p, int training) {
  return (TfmRun){ .T = n->T, .B = n->B, .d = n->d, .H = n->H, .F = n->F, .L = n->L,
                   .layer = n->layer, .p = p, .eps = 1e-5f, .training = training };
}

/* y = W v + b for one row, in double: W [M,K]. */
static void ref_linear(int M, int K, const float *W, const float *b, const double *v, double *y) {
  for (int i = 0; i < M; i++) {
    double s = b[i];
    for (int k = 0; k < K; k++) s += (double)W[(long)i * K + k] * v[k];
    y[i] = s;
  }
}
static void ref_ln(int d, const float *g, const float *b, const double *x, double *y) {
  double mu = 0, var = 0;
  for (int k = 0; k < d; k++) mu += x[k];
  mu /= d;
  for (int k = 0; k < d; k++) var += (x[k] - mu) * (x[k] - mu);
  double rs = 1 / sqrt(var / d + 1e-5);
  for (int k = 0; k < d; k++) y[k] = (x[k] - mu) * rs * g[k] + b[k];
}

/* The layers of tfm.h's formula row by row, masks (if any) as the fused run
** drew them. */
static void ref_net(const Net *n, const float *x, const float *masks, double *y) {
  const int T = n->T, B = n->B, d = n->d, F = n->F;
  const long N = (long)T * B, Nd = N * d;
  double *cur = malloc(sizeof(double) * Nd), *qkv = malloc(sizeof(double) * N * 3 * d);
  double *att = malloc(sizeof(double) * Nd), *t1 = malloc(sizeof(double) * (F > 3 * d ? F : 3 * d));
  double *t2 = malloc(sizeof(double) * (F > 3 * d ? F : 3 * d));
  for (long i = 0; i < Nd; i++) cur[i] = x[i];
  for (int l = 0; l < n->L; l++) {
    float *const *w = n->w[l];
    const float *m1 = masks ? masks + l * 2 * Nd : NULL, *m2 = m1 ? m1 + Nd : NULL;
    for (long r = 0; r < N; r++) {
      ref_ln(d, w[TFM_LN1_G], w[TFM_LN1_B], cur + r * d, t1);
      ref_linear(3 * d, d, w[TFM_WQKV], w[TFM_BQKV], t1, qkv + r * 3 * d);
    }
    ref_attn(T, B, n->H, d / n->H, qkv, att, NULL);
    for (long r = 0; r < N; r++) {
      ref_linear(d, d, w[TFM_WO], w[TFM_BO], att + r * d, t1);
      for (int k = 0; k < d; k++) cur[r * d + k] += (m1 ? m1[r * d + k] : 1) * t1[k];
      ref_ln(d, w[TFM_LN2_G], w[TFM_LN2_B], cur + r * d, t1);
      ref_linear(F, d, w[TFM_W1], w[TFM_B1], t1, t2);
      for (int k = 0; k < F; k++) t2[k] = t2[k] > 0 ? t2[k] : 0;
      ref_linear(d, F, w[TFM_W2], w[TFM_B2], t2, t1);
      for (int k = 0; k < d; k++) cur[r * d + k] += (m2 ? m2[r * d + k] : 1) * t1[k];
    }
  }
  memcpy(y, cur, sizeof(double) * Nd);
  free(cur); free(qkv); free(att); free(t1); free(t2);
}

static void fwd_vs_ref(int threads, float p) {
  par_init(threads);
  Net n; net_init(&n, 6, 3, 8, 2, 12, 2);
  const long Nd = 6L * 3 * 8;
  float *x = fnew(Nd), *y = fnew(Nd);
  double *ry = malloc(sizeof(double) * Nd);
  fill(x, Nd, -1, 1);
  Arena a; arena_init(&a, 1 << 20);
  Rng rng; rng_seed(&rng, 7);
  TfmRun r = net_run(&n, p, p > 0);
  tfm_seq_fwd(&r, &a, &rng, x, y);
  ck_assert(p > 0 ? r.mask != NULL : r.mask == NULL);
  ref_net(&n, x, r.mask, ry);
  for (long i = 0; i < Nd; i++) close_at(y[i], ry[i], 1e-4, 1e-4, "y", i);
  if (p > 0) {   /* the masks are dropout masks: 0 or 1/(1-p), both present */
    long zero = 0;
    for (long i = 0; i < 2 * 2 * Nd; i++) {
      ck_assert(r.mask[i] == 0 || fabsf(r.mask[i] - 1 / (1 - p)) < 1e-6f);
      zero += r.mask[i] == 0;
    }
    ck_assert(zero > 0 && zero < 2 * 2 * Nd);
  }
  /* each attention row is a distribution over the past only */
  for (int l = 0; l < 2; l++)
    for (int t = 0; t < 6; t++) {
      const float *row = tfm_attention(&r, l, 2, 1) + t * 6;
      double s = 0;
      for (int u = 0; u < 6; u++) { s += row[u]; if (u > t) ck_assert_float_eq(row[u], 0); }
      close_at(s, 1, 1e-6, 0, "row sum", t);
    }
  arena_free(&a); free(x); free(y); free(ry); net_free(&n);
  par_init(1);
}

START_TEST(layers_fwd_ref) { fwd_vs_ref(1, 0); }
END_TEST
START_TEST(layers_fwd_ref_dropout) { fwd_vs_ref(1, 0.3f); }
END_TEST
START_TEST(layers_fwd_ref_threads) { fwd_vs_ref(2, 0.3f); }
END_TEST

/* sum(wy * y) with the same dropout masks every time (same seed). */
static double net_loss(const Net *n, const float *x, const float *wy, float p) {
  const long Nd = (long)n->T * n->B * n->d;
  float *y = fnew(Nd);
  Arena a; arena_init(&a, 1 << 20);
  Rng rng; rng_seed(&rng, 99);
  TfmRun r = net_run(n, p, 1);
  tfm_seq_fwd(&r, &a, &rng, x, y);
  double L = 0;
  for (long i = 0; i < Nd; i++) L += (double)wy[i] * y[i];
  arena_free(&a); free(y);
  return L;
}

static void bwd_vs_fd(float p) {
  Net n; net_init(&n, 4, 2, 6, 2, 8, 2);
  const long Nd = 4L * 2 * 6;
  float *x = fnew(Nd), *y = fnew(Nd), *wy = fnew(Nd), *dx = fnew(Nd);
  fill(x, Nd, -1, 1); fill(wy, Nd, -1, 1);
  Arena a; arena_init(&a, 1 << 20);
  Rng rng; rng_seed(&rng, 99);
  TfmRun r = net_run(&n, p, 1);
  tfm_seq_fwd(&r, &a, &rng, x, y);
  tfm_seq_bwd(&r, &a, wy, dx);
  /* A step that moves a relu input across 0 has different one-sided
  ** slopes: such an element (a kink) is counted, not compared.  One hidden
  ** unit near 0 puts every weight before it near a kink, hence the bound. */
  const float eps = 1e-3f;
  const double l0 = net_loss(&n, x, wy, p);
  char what[32];
  long checked = 0, kinks = 0;
  for (int l = -1; l < n.L; l++)
    for (int k = l < 0 ? TFM_NW - 1 : 0; k < TFM_NW; k++) {
      float *v = l < 0 ? x : n.w[l][k], *g = l < 0 ? dx : n.dw[l][k];
      long s = l < 0 ? Nd : psize(&n, k);
      snprintf(what, sizeof what, "%d.%s", l, l < 0 ? "dx" : tfm_param_name[k]);
      for (long i = 0; i < s; i++) {
        float keep = v[i];
        v[i] = keep + eps; double lp = net_loss(&n, x, wy, p);
        v[i] = keep - eps; double lm = net_loss(&n, x, wy, p);
        v[i] = keep;
        double fd = (lp - lm) / (2 * eps), tol = 3e-3 + 1e-2 * fabs(fd);
        if (fabs((lp - l0) - (l0 - lm)) / eps > tol) { kinks++; continue; }
        close_at(g[i], fd, 3e-3, 1e-2, what, i);
        checked++;
      }
    }
  ck_assert_msg(kinks * 8 < checked, "%ld kinks in %ld elements", kinks, checked);
  arena_free(&a); free(x); free(y); free(wy); free(dx); net_free(&n);
}

START_TEST(layers_bwd_fd) { bwd_vs_fd(0); }
END_TEST
START_TEST(layers_bwd_fd_dropout) { bwd_vs_fd(0.25f); }
END_TEST

static Suite *tfm_suite(void) {
  Suite *s = suite_create("tfm");
  TCase *c = tcase_create("kernels");
  tcase_set_timeout(c, 60);
  tcase_add_test(c, ln_hand);
  tcase_add_test(c, ln_bwd_fd);
  tcase_add_test(c, causal_softmax_hand);
  tcase_add_test(c, attn_fwd_ref);
  tcase_add_test(c, attn_bwd_fd);
  tcase_add_test(c, layers_fwd_ref);
  tcase_add_test(c, layers_fwd_ref_dropout);
  tcase_add_test(c, layers_fwd_ref_threads);
  tcase_add_test(c, layers_bwd_fd);
  tcase_add_test(c, layers_bwd_fd_dropout);
  suite_add_tcase(s, c);
  return s;
}

TU_MAIN(tfm_suite)
