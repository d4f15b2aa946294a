/*
** test_lstm.c — checks the fused sequence kernels (lstm.c) against hand
** numbers, plain per-step implementations written here, central finite
** differences, and torch.nn.LSTM (values committed in tests/fixtures/).
*/
#include "testutil.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lstm.h"
#include "par.h"
#include "seqk.h"
#include "gemm.h"

/* ---- test helpers ------------------------------------------------------- */

/* Test-local data generator (independent of util.c's Rng). */
static unsigned long long tseed = 12345;
static void trand_seed(unsigned long long s) { tseed = s; }
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

/* ---- sequence LSTM: a plain double-precision reference ------------------ */

/* Variables of one LSTM problem, float (for the kernels) with double mirrors
** (for the reference and finite differences).  v[0] = x, v[1] = h0,
** v[2] = c0, then W_ih, W_hh, b for each layer. */
#define MAXL 3
#define NVAR (3 + 3 * MAXL)
typedef struct Prob {
  int T, B, I, H, L;
  int *len;                 /* NULL or [B] */
  float *v[NVAR]; double *d[NVAR]; long n[NVAR];
  float *g[NVAR];           /* analytic gradients from the kernels */
  float *wy, *wh, *wc;      /* loss weights for y, hN, cN */
} Prob;

static void prob_new(Prob *P, int T, int B, int I, int H, int L, int with_len) {
  memset(P, 0, sizeof *P);
  P->T = T; P->B = B; P->I = I; P->H = H; P->L = L;
  P->n[0] = (long)T * B * I; P->n[1] = P->n[2] = (long)L * B * H;
  for (int l = 0; l < L; l++) {
    int in = l ? H : I;
    P->n[3 + 3 * l] = 4L * H * in; P->n[4 + 3 * l] = 4L * H * H; P->n[5 + 3 * l] = 4L * H;
  }
  for (int k = 0; k < 3 + 3 * L; k++) {
    P->v[k] = fnew(P->n[k]); P->g[k] = fnew(P->n[k]);
    P->d[k] = calloc((size_t)P->n[k], sizeof(double));
    fill(P->v[k], P->n[k], k < 3 ? -1.0f : -0.6f, k < 3 ? 1.0f : 0.6f);
    for (long i = 0; i < P->n[k]; i++) P->d[k][i] = P->v[k][i];
  }
  long ny = (long)T * B * H, ns = (long)L * B * H;
  P->wy = fnew(ny); P->wh = fnew(ns); P->wc = fnew(ns);
  fill(P->wy, ny, -1, 1); fill(P->wh, ns, -1, 1); fill(P->wc, ns, -1, 1);
  if (with_len) {
    P->len = calloc((size_t)B, sizeof(int));
    for (int b = 0; b < B; b++) P->len[b] = b == 0 ? T : (int)(trand() * (T + 1));   /* 0..T, one full */
  }
}

static void prob_free(Prob *P) {
  for (int k = 0; k < 3 + 3 * P->L; k++) { free(P->v[k]); free(P->d[k]); free(P->g[k]); }
  free(P->wy); free(P->wh); free(P->wc); free(P->len);
}

static double sigd(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The LSTM written out step by step in double.  mask: [L-1][T][B][H] or
** NULL.  Writes y [T,B,H], hN, cN [L,B,H]; returns the test loss
** sum(wy*y) + sum(wh*hN) + sum(wc*cN). */
static double ref_lstm(const Prob *P, const float *mask, int use_h0, double *y, double *hN, double *cN) {
  int T = P->T, B = P->B, H = P->H, L = P->L;
  double *in = malloc(sizeof(double) * (size_t)T * B * (P->I > H ? P->I : H));
  double *out = malloc(sizeof(double) * (size_t)T * B * H);
  double *h = malloc(sizeof(double) * H), *c = malloc(sizeof(double) * H), *a = malloc(sizeof(double) * 4 * H);
  for (long k = 0; k < P->n[0]; k++) in[k] = P->d[0][k];
  double loss = 0;
  for (int l = 0; l < L; l++) {
    int ni = l ? H : P->I;
    const double *Wih = P->d[3 + 3 * l], *Whh = P->d[4 + 3 * l], *bias = P->d[5 + 3 * l];
    for (int b = 0; b < B; b++) {
      for (int j = 0; j < H; j++) {
        h[j] = use_h0 ? P->d[1][((size_t)l * B + b) * H + j] : 0;
        c[j] = use_h0 ? P->d[2][((size_t)l * B + b) * H + j] : 0;
      }
      int n = P->len ? P->len[b] : T;
      for (int t = 0; t < T; t++) {
        double *o = out + ((size_t)t * B + b) * H;
        if (t >= n) { for (int j = 0; j < H; j++) o[j] = 0; continue; }
        const double *xt = in + ((size_t)t * B + b) * ni;
        for (int k = 0; k < 4 * H; k++) {
          double s = bias[k];
          for (int j = 0; j < ni; j++) s += Wih[(size_t)k * ni + j] * xt[j];
          for (int j = 0; j < H; j++) s += Whh[(size_t)k * H + j] * h[j];
          a[k] = s;
        }
        for (int j = 0; j < H; j++) {
          double i = sigd(a[j]), f = sigd(a[H + j]), g = tanh(a[2 * H + j]), og = sigd(a[3 * H + j]);
          c[j] = f * c[j] + i * g;
          h[j] = og * tanh(c[j]);
          o[j] = h[j];
        }
      }
      for (int j = 0; j < H; j++) {
        size_t s = ((size_t)l * B + b) * H + j;
        hN[s] = h[j]; cN[s] = c[j];
        loss += P->wh[s] * h[j] + P->wc[s] * c[j];
      }
    }
    for (size_t k = 0; k < (size_t)T * B * H; k++)    /* next layer's input */
      in[k] = out[k] * (mask && l + 1 < L ? mask[(size_t)l * T * B * H + k] : 1.0);
  }
  for (size_t k = 0; k < (size_t)T * B * H; k++) { y[k] = out[k]; loss += P->wy[k] * out[k]; }
  free(in); free(out); free(h); free(c); free(a);
  return loss;
}

/* Runs the fused forward and backward on P (gradients into P->g). */
static void fused_run(Prob *P, Arena *A, Rng *rng, float p, int training, int use_h0,
                      LstmRun *r, LstmLayer *layers, float *y, float *hN, float *cN) {
  for (int l = 0; l < P->L; l++) {
    layers[l] = (LstmLayer){P->v[3 + 3 * l], P->v[4 + 3 * l], P->v[5 + 3 * l],
                            P->g[3 + 3 * l], P->g[4 + 3 * l], P->g[5 + 3 * l]};
  }
  *r = (LstmRun){.T = P->T, .B = P->B, .D = P->I, .H = P->H, .L = P->L, .layer = layers,
                 .len = P->len, .p = p, .training = training};
  arena_reset(A);
  size_t need = lstm_fwd_bytes(r) + lstm_bwd_bytes(r);
  ck_assert_msg(need <= A->cap, "test arena too small: %zu", need);
  ck_assert_int_eq(lstm_seq_fwd(r, A, rng, P->v[0], use_h0 ? P->v[1] : NULL, use_h0 ? P->v[2] : NULL,
                                y, hN, cN), 0);
  ck_assert_int_eq(lstm_seq_bwd(r, A, P->wy, P->wh, P->wc, P->g[0],
                                use_h0 ? P->g[1] : NULL, use_h0 ? P->g[2] : NULL), 0);
  ck_assert(A->used <= need);
}

/* Fused vs reference values, and fused gradients vs central differences of
** the reference, over random small problems. */
static void check_lstm_case_fd(int T, int B, int I, int H, int L, int with_len, float p, int use_h0, int nfd) {
  Prob P; prob_new(&P, T, B, I, H, L, with_len);
  Arena A; arena_init(&A, 1 << 22);
  Rng rng; rng_seed(&rng, 7);
  LstmRun r; LstmLayer layers[MAXL];
  long ny = (long)T * B * H, ns = (long)L * B * H;
  float *y = fnew(ny), *hN = fnew(ns), *cN = fnew(ns);
  fused_run(&P, &A, &rng, p, p > 0, use_h0, &r, layers, y, hN, cN);
  if (p > 0 && L > 1) ck_assert_ptr_nonnull(r.mask);
  double *ry = malloc(sizeof(double) * ny), *rh = malloc(sizeof(double) * ns), *rc = malloc(sizeof(double) * ns);
  ref_lstm(&P, r.mask, use_h0, ry, rh, rc);
  char what[160];
  snprintf(what, sizeof what, "y T%d B%d I%d H%d L%d", T, B, I, H, L);
  for (long k = 0; k < ny; k++) close_at(y[k], ry[k], 1e-5, 1e-5, what, k);
  for (long k = 0; k < ns; k++) close_at(hN[k], rh[k], 1e-5, 1e-5, "hN", k);
  for (long k = 0; k < ns; k++) close_at(cN[k], rc[k], 1e-5, 1e-5, "cN", k);
  const double eps = 1e-5;
  static const char *names[] = {"dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"};
  for (int v = 0; v < nfd && v < 3 + 3 * L; v++) {
    if (!use_h0 && (v == 1 || v == 2)) continue;
    for (long k = 0; k < P.n[v]; k++) {
      double s = P.d[v][k];
      P.d[v][k] = s + eps; double lp = ref_lstm(&P, r.mask, use_h0, ry, rh, rc);
      P.d[v][k] = s - eps; double lm = ref_lstm(&P, r.mask, use_h0, ry, rh, rc);
      P.d[v][k] = s;
      snprintf(what, sizeof what, "%s(layer %d) T%d B%d L%d len%d p%g", names[v < 3 ? v : 3 + (v - 3) % 3],
               v < 3 ? 0 : (v - 3) / 3, T, B, L, with_len, p);
      close_at(P.g[v][k], (lp - lm) / (2 * eps), 1e-5, 1e-4, what, k);
    }
  }
  free(y); free(hN); free(cN); free(ry); free(rh); free(rc);
  arena_free(&A); prob_free(&P);
}

static void check_lstm_case(int T, int B, int I, int H, int L, int with_len, float p, int use_h0) {
  check_lstm_case_fd(T, B, I, H, L, with_len, p, use_h0, NVAR);
}

START_TEST(lstm_seq_fixed) {
  check_lstm_case(1, 1, 1, 1, 1, 0, 0, 0);
  check_lstm_case(3, 2, 3, 4, 1, 0, 0, 1);
  check_lstm_case(4, 3, 5, 3, 2, 0, 0, 1);
  check_lstm_case(5, 4, 2, 3, 2, 1, 0, 1);          /* lengths */
  check_lstm_case(4, 3, 3, 4, 3, 0, 0.4f, 1);       /* dropout between 3 layers */
  check_lstm_case(5, 5, 3, 3, 2, 1, 0.3f, 0);       /* lengths + dropout, zero h0 */
  check_lstm_case(3, 2, 3, 19, 2, 1, 0.2f, 1);      /* H > 16: full chunks and a tail */
  check_lstm_case_fd(2, 2, 3, 230, 2, 1, 0.2f, 1, 3);  /* H = 230: several unit blocks; FD of x, h0, c0 */
}
END_TEST

START_TEST(lstm_seq_random) {
  for (int it = 0; it < 8; it++) {
    int T = 1 + (int)(trand() * 6), B = 1 + (int)(trand() * 4), I = 1 + (int)(trand() * 5);
    int H = 1 + (int)(trand() * 5), L = 1 + (int)(trand() * MAXL);
    check_lstm_case(T, B, I, H, L, trand() < 0.5, trand() < 0.5 ? 0.25f : 0, trand() < 0.7);
  }
}
END_TEST

/* With a pool the steps are split into blocks of hidden units, each
** thread adding its gates' share of dh_{t-1} (lstm.c): the same values and
** gradients as the reference (finite differences of x, h0, c0) and as one
** thread (every gradient), with lengths, dropout and block tails (H = 70:
** two blocks, of 32 and 38 units); H = 230 takes the transposed product (against
** one thread only: finite differences at that size take minutes). */
static void blocks_vs_one(int T, int B, int I, int H, int L, int fd) {
  float *g1[NVAR];
  for (int threads = 1; threads <= 2; threads++) {
    par_init(threads);
    Prob P; prob_new(&P, T, B, I, H, L, 1);   /* same draws both times: the generator restarts below */
    Arena A; arena_init(&A, 1 << 22);
    Rng rng; rng_seed(&rng, 5);
    LstmRun r; LstmLayer layers[MAXL];
    long ny = (long)T * B * H, ns = (long)L * B * H;
    float *y = fnew(ny), *hN = fnew(ns), *cN = fnew(ns);
    fused_run(&P, &A, &rng, 0.2f, 1, 1, &r, layers, y, hN, cN);
    for (int v = 0; v < 3 + 3 * L; v++) {
      if (threads == 1) { g1[v] = fnew(P.n[v]); memcpy(g1[v], P.g[v], sizeof(float) * (size_t)P.n[v]); continue; }
      close_vec(P.g[v], g1[v], P.n[v], 1e-5, 1e-4, "gradient with two blocks vs one");
      free(g1[v]);
    }
    free(y); free(hN); free(cN); arena_free(&A); prob_free(&P);
    trand_seed(99);
  }
  if (fd) check_lstm_case_fd(T, B, I, H, L, 1, 0.2f, 1, 3);   /* still two threads */
  par_init(1);
}

START_TEST(lstm_seq_unit_blocks) {
  trand_seed(99);
  blocks_vs_one(3, 3, 4, 70, 2, 1);
  trand_seed(99);
  blocks_vs_one(2, 3, 3, 230, 2, 0);
}
END_TEST

/* With a pool, at most ROW_MAXH (112) units and at least ROW_MIN (4) rows
** per thread, a layer's recurrence is split by rows instead (lstm.c's
** rec_fwd/rec_bwd): B = 9 gives blocks of rows 0-3 and 4-8 on two threads,
** so the second block's lengths are looked up at an offset.  The same
** values and gradients as one thread (whose steps run whole), and x, h0, c0
** against finite differences, with lengths (held rows), dropout and a given
** h0; H = 100 (the models' size) against one thread only. */
START_TEST(lstm_seq_row_blocks) {
  trand_seed(99);                  /* blocks_vs_one restarts it at 99 */
  blocks_vs_one(4, 9, 3, 5, 2, 1);
  trand_seed(99);
  blocks_vs_one(3, 8, 3, 19, 3, 1);
  trand_seed(99);
  blocks_vs_one(3, 20, 3, 100, 2, 0);
}
END_TEST

/* With graphrun's own kernel for the steps' products (gemm.h), whatever
** the BLAS kernel would choose: values and gradients against the
** reference and finite differences, whole steps (B = 2), split by units
** (H = 70, B = 3 on two threads, against one) and by rows (B = 9 on two
** threads), at H = 128 from packed weights. */
START_TEST(lstm_own_step_kernel) {
  gemm_rows_force(1);
  check_lstm_case(3, 2, 3, 19, 2, 1, 0.2f, 1);
  check_lstm_case(5, 5, 3, 3, 2, 1, 0.3f, 0);
  trand_seed(99);
  blocks_vs_one(3, 3, 4, 70, 2, 0);
  trand_seed(99);
  blocks_vs_one(4, 9, 3, 5, 2, 1);
  /* H = 128: the weights from panels (gemm_panels_on), whole steps (also
  ** against finite differences), two unit blocks (B = 3) and two row blocks
  ** (B = 9: with panels any width is split by rows), each against one
  ** thread */
  check_lstm_case_fd(2, 3, 3, 128, 2, 1, 0.2f, 1, 3);
  trand_seed(99);
  blocks_vs_one(2, 3, 4, 128, 2, 0);
  ck_assert_int_eq(lstm_row_maxh(128), 128);
  ck_assert_int_eq(lstm_row_maxh(120), lstm_row_maxh(100));   /* not a multiple of 16: no panels */
  ck_assert_int_le(lstm_row_maxh(120), 144);
  trand_seed(99);
  blocks_vs_one(2, 9, 3, 128, 2, 0);
  gemm_rows_force(0);
  ck_assert_int_le(lstm_row_maxh(256), 144);
  gemm_rows_force(-1);
}
END_TEST

/* Length semantics on their own: a row of length n gives the same final
** state as running the first n steps alone, and zeros after. */
START_TEST(lstm_len_hold) {
  int T = 6, B = 3, I = 2, H = 3, L = 2;
  Prob P; prob_new(&P, T, B, I, H, L, 0);
  int len[3] = {6, 2, 0};
  Arena A; arena_init(&A, 1 << 22);
  LstmLayer ly[MAXL];
  for (int l = 0; l < L; l++) ly[l] = (LstmLayer){P.v[3 + 3 * l], P.v[4 + 3 * l], P.v[5 + 3 * l], 0, 0, 0};
  LstmRun r = {.T = T, .B = B, .D = I, .H = H, .L = L, .layer = ly, .len = len};
  float y[6 * 3 * 3], hN[2 * 3 * 3], cN[2 * 3 * 3];
  ck_assert_int_eq(lstm_seq_fwd(&r, &A, NULL, P.v[0], P.v[1], P.v[2], y, hN, cN), 0);
  /* Row 1 alone for 2 steps. */
  float x1[2 * 2], h01[2 * 3], c01[2 * 3], y1[2 * 3], h1[2 * 3], c1[2 * 3];
  for (int t = 0; t < 2; t++) memcpy(x1 + t * I, P.v[0] + (t * B + 1) * I, sizeof(float) * I);
  for (int l = 0; l < L; l++) {
    memcpy(h01 + l * H, P.v[1] + (l * B + 1) * H, sizeof(float) * H);
    memcpy(c01 + l * H, P.v[2] + (l * B + 1) * H, sizeof(float) * H);
  }
  LstmRun r1 = {.T = 2, .B = 1, .D = I, .H = H, .L = L, .layer = ly};
  ck_assert_int_eq(lstm_seq_fwd(&r1, &A, NULL, x1, h01, c01, y1, h1, c1), 0);
  for (int l = 0; l < L; l++)
    for (int j = 0; j < H; j++) {
      ck_assert_float_eq(hN[(l * B + 1) * H + j], h1[l * H + j]);
      ck_assert_float_eq(cN[(l * B + 1) * H + j], c1[l * H + j]);
      ck_assert_float_eq(hN[(l * B + 2) * H + j], P.v[1][(l * B + 2) * H + j]);   /* length 0: h0 */
      ck_assert_float_eq(cN[(l * B + 2) * H + j], P.v[2][(l * B + 2) * H + j]);
    }
  for (int t = 0; t < T; t++)
    for (int j = 0; j < H; j++) {
      if (t < 2) ck_assert_float_eq(y[(t * B + 1) * H + j], y1[t * H + j]);
      else ck_assert_float_eq(y[(t * B + 1) * H + j], 0.0f);
      ck_assert_float_eq(y[(t * B + 2) * H + j], 0.0f);
    }
  arena_free(&A); prob_free(&P);
}
END_TEST

/* An arena made with room for exactly the blocks it then hands out keeps
** them inside its memory: the first block is aligned up from where malloc
** put the base, so the base needs room for that (glibc's free, or ASan in
** check-asan, caught the last block's tail past the end). */
START_TEST(arena_blocks_stay_inside) {
  for (size_t cap = 128; cap <= 32768; cap *= 4) {
    Arena A; arena_init(&A, cap);
    char *p = arena_alloc(&A, cap / 2), *q = arena_alloc(&A, cap / 2);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    ck_assert_ptr_eq(q, p + cap / 2);
    ck_assert_ptr_null(A.spills);
    ck_assert_uint_eq(A.used, cap);
    memset(p, 1, cap);
    arena_free(&A);
  }
}
END_TEST

/* lstm_fwd_bytes / lstm_bwd_bytes are exactly what the passes take, so a
** caller can size an arena once. */
START_TEST(lstm_workspace_bytes) {
  for (int drop = 0; drop < 4; drop++) {
    int H = drop < 2 ? 6 : 128;           /* 128 with the own kernel on: the weights' panels too */
    gemm_rows_force(drop < 2 ? -1 : 1);
    Prob P; prob_new(&P, 5, 3, 4, H, 3, 1);
    LstmLayer ly[MAXL];
    for (int l = 0; l < 3; l++) ly[l] = (LstmLayer){P.v[3 + 3 * l], P.v[4 + 3 * l], P.v[5 + 3 * l], 0, 0, 0};
    LstmRun r = {.T = 5, .B = 3, .D = 4, .H = H, .L = 3, .layer = ly, .len = P.len, .p = 0.5f, .training = drop % 2};
    size_t fb = lstm_fwd_bytes(&r), bb = lstm_bwd_bytes(&r);
    Arena A; arena_init(&A, fb + bb);
    Rng rng; rng_seed(&rng, 1);
    ck_assert_int_eq(lstm_seq_fwd(&r, &A, &rng, P.v[0], NULL, NULL, NULL, NULL, NULL), 0);
    ck_assert_uint_eq(A.used, fb);
    ck_assert_int_eq(lstm_seq_bwd(&r, &A, P.wy, NULL, NULL, P.g[0], NULL, NULL), 0);
    ck_assert_uint_eq(A.used, fb + bb);
    ck_assert_uint_eq(A.cap, fb + bb);
    ck_assert(drop % 2 ? r.mask != NULL : r.mask == NULL);
    arena_free(&A); prob_free(&P);
  }
  gemm_rows_force(-1);
}
END_TEST

/* ---- agreement with torch.nn.LSTM -------------------------------------------- */

static double torch_maxdiff;    /* largest |ours - torch| seen, printed at the end */

/* Case sec of tests/fixtures/lstm_torch.txt (tests/lstm_torch.py): its
** inputs into a problem, ours against every output and gradient to 1e-5. */
static void check_torch_case(const char *text, const char *name) {
  const char *sec = tu_fix_case(text, name);
  float dims[6];
  tu_fix_read(sec, "dims", dims, 6);
  int T = (int)dims[0], B = (int)dims[1], D = (int)dims[2], H = (int)dims[3], L = (int)dims[4];
  ck_assert(L >= 1 && L <= MAXL);
  Prob P; prob_new(&P, T, B, D, H, L, dims[5] != 0);
  if (P.len) {
    float *lf = tu_fix_get(sec, "len", (size_t)B);
    for (int b = 0; b < B; b++) P.len[b] = (int)lf[b];
    free(lf);
  }
  static const char *in[] = {"x", "h0", "c0", "W_ih", "W_hh", "b"};
  char nm[32];
  long ny = (long)T * B * H, ns = (long)L * B * H;
  for (int v = 0; v < 3 + 3 * L; v++) {
    snprintf(nm, sizeof nm, v < 3 ? "%s" : "%s%d", in[v < 3 ? v : 3 + (v - 3) % 3], (v - 3) / 3);
    tu_fix_read(sec, nm, P.v[v], (size_t)P.n[v]);
  }
  tu_fix_read(sec, "dy", P.wy, (size_t)ny);
  tu_fix_read(sec, "dhN", P.wh, (size_t)ns);
  tu_fix_read(sec, "dcN", P.wc, (size_t)ns);

  Arena A; arena_init(&A, 1 << 22);
  LstmRun r; LstmLayer layers[MAXL];
  float *y = fnew(ny), *hN = fnew(ns), *cN = fnew(ns);
  fused_run(&P, &A, NULL, 0, 0, 1, &r, layers, y, hN, cN);

  const float *ours[3 + 3 + 3 * MAXL] = {y, hN, cN};
  long cnt[3 + 3 + 3 * MAXL] = {ny, ns, ns};
  static const char *out[] = {"y", "hN", "cN", "dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"};
  for (int v = 0; v < 3 + 3 * L; v++) { ours[3 + v] = P.g[v]; cnt[3 + v] = P.n[v]; }
  for (int k = 0; k < 6 + 3 * L; k++) {
    snprintf(nm, sizeof nm, k < 6 ? "%s" : "%s%d", out[k < 6 ? k : 6 + (k - 6) % 3], (k - 6) / 3);
    float *t = tu_fix_get(sec, nm, (size_t)cnt[k]);
    char what[96];
    snprintf(what, sizeof what, "torch %s, case %s", nm, name);
    for (long i = 0; i < cnt[k]; i++) {
      torch_maxdiff = fmax(torch_maxdiff, fabs((double)ours[k][i] - t[i]));
      close_at(ours[k][i], t[i], 1e-5, 1e-5, what, i);
    }
    free(t);
  }
  free(y); free(hN); free(cN);
  arena_free(&A); prob_free(&P);
}

START_TEST(lstm_vs_torch) {
  char *text = tu_fixture("lstm_torch.txt");
  static const char *cases[] = {"T5B3D4H6L1", "T7B4D5H8L2", "T6B5D3H7L2len", "T6B4D4H7L3len",
                                "T4B3D4H20L2len"};      /* H = 20: a full 16-lane chunk and a tail */
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) check_torch_case(text, cases[c]);
  printf("test_lstm: torch.nn.LSTM agreement (%s): max |diff| %.3g over y, hN, cN and all gradients\n",
         getenv("GR_FIXTURES") ? getenv("GR_FIXTURES") : "tests/fixtures", torch_maxdiff);
  free(text);
}
END_TEST

/* ---- dropout masks ------------------------------------------------------- */

START_TEST(drop_mask_stats) {
  Rng rng; rng_seed(&rng, 3);
  long n = 200000; float *m = fnew(n);
  seqk_drop_mask(n, 0.3f, &rng, m);
  long z = 0;
  for (long k = 0; k < n; k++) {
    if (m[k] == 0.0f) z++;
    else ck_assert_float_eq_tol(m[k], 1.0f / 0.7f, 1e-6f);
  }
  ck_assert_msg(fabs((double)z / n - 0.3) < 0.005, "zero fraction %g", (double)z / n);
  seqk_drop_mask(n, 0, &rng, m);   for (long k = 0; k < n; k++) ck_assert_float_eq(m[k], 1.0f);
  seqk_drop_mask(n, 1, &rng, m);   for (long k = 0; k < n; k++) ck_assert_float_eq(m[k], 0.0f);
  free(m);
}
END_TEST

/* rng_advance(n) against n calls of rng_next; 2^64 steps against the
** published xoroshiro128+ jump polynomial (Blackman & Vigna), an
** independent route to the largest matrices; long jumps compose. */
START_TEST(rng_advance_steps) {
  static const uint64_t ns[] = {0, 1, 2, 63, 64, 65, 127, 128, 4095, 4096, 4097, 3 * 4096 + 17, 200003};
  static const uint64_t seeds[] = {1, 7, 0x9e3779b97f4a7c15ull};
  for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
    for (size_t j = 0; j < sizeof ns / sizeof *ns; j++) {
      Rng a, b;
      rng_seed(&a, seeds[i]); b = a;
      rng_advance(&a, ns[j]);
      for (uint64_t k = 0; k < ns[j]; k++) rng_next(&b);
      ck_assert_msg(a.s[0] == b.s[0] && a.s[1] == b.s[1], "seed %llu: advance by %llu differs from stepping",
                    (unsigned long long)seeds[i], (unsigned long long)ns[j]);
    }
  static const uint64_t JUMP[2] = {0xdf900294d8f554a5ull, 0x170865df4b3201fcull};   /* x^(2^64) */
  Rng a, b, c;
  rng_seed(&a, 42); b = a;
  uint64_t s0 = 0, s1 = 0;
  for (int w = 0; w < 2; w++)
    for (int bit = 0; bit < 64; bit++) {
      if (JUMP[w] >> bit & 1) { s0 ^= b.s[0]; s1 ^= b.s[1]; }
      rng_next(&b);
    }
  rng_advance(&a, 1ull << 63); rng_advance(&a, 1ull << 63);
  ck_assert(a.s[0] == s0 && a.s[1] == s1);
  uint64_t n1 = 0x0123456789abcdefull, n2 = 0x0fedcba987654321ull;
  rng_seed(&a, 3); b = a; c = a;
  rng_advance(&a, n1 + n2);
  rng_advance(&b, n1); rng_advance(&b, n2);
  rng_advance(&c, n2); rng_advance(&c, n1);
  ck_assert(a.s[0] == b.s[0] && a.s[1] == b.s[1] && a.s[0] == c.s[0] && a.s[1] == c.s[1]);
  rng_seed(&b, 3);
  ck_assert(a.s[0] != b.s[0] || a.s[1] != b.s[1]);
}
END_TEST

/* The pooled mask against the plain serial loop, bit for bit, with the
** same end state: lengths at the piece boundaries (C = SEQK_DROP_CHUNK),
** without the pool and with 2 or 3 threads (pieces then start at
** rng_advance'd states, so a start one draw off shifts a whole piece). */
static void drop_ref(long n, float p, Rng *rng, float *m) {
  float keep = 1.0f / (1.0f - p);
  for (long k = 0; k < n; k++) m[k] = rng_uniform(rng) < p ? 0.0f : keep;
}
START_TEST(drop_mask_matches_serial) {
  const long C = SEQK_DROP_CHUNK;
  const long ns[] = {0, 1, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 3 * C + 17, 200000};
  static const uint64_t seeds[] = {1, 99, 0xdeadbeefull};
  static const float ps[] = {0.3f, 0.5f, 0.9f};
  static const int threads[] = {1, 2, 3};
  long nmax = 200000;
  float *m = fnew(nmax + 1), *r = fnew(nmax + 1);
  for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
    ck_assert_int_eq(par_init(threads[t]), threads[t]);
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
      for (size_t j = 0; j < sizeof seeds / sizeof *seeds; j++) {
        float p = ps[(i + j) % 3];
        Rng a, b;
        rng_seed(&a, seeds[j]);
        rng_next(&a);                  /* a state mid-stream, not just seeded */
        b = a;
        m[ns[i]] = r[ns[i]] = -7.0f;   /* nothing written past n */
        seqk_drop_mask(ns[i], p, &a, m);
        drop_ref(ns[i], p, &b, r);
        ck_assert_msg(memcmp(m, r, sizeof(float) * (size_t)(ns[i] + 1)) == 0,
                      "%d threads, n %ld, seed %llu: mask differs from the serial loop", threads[t], ns[i],
                      (unsigned long long)seeds[j]);
        ck_assert_msg(a.s[0] == b.s[0] && a.s[1] == b.s[1], "%d threads, n %ld: end state differs",
                      threads[t], ns[i]);
      }
    /* p <= 0 and p >= 1 draw nothing. */
    Rng a, b;
    rng_seed(&a, 5); b = a;
    seqk_drop_mask(nmax, 0.0f, &a, m);
    seqk_drop_mask(nmax, -1.0f, &a, m);
    seqk_drop_mask(nmax, 1.0f, &a, m);
    seqk_drop_mask(nmax, 2.0f, &a, m);
    ck_assert(a.s[0] == b.s[0] && a.s[1] == b.s[1]);
  }
  par_init(1);
  free(m); free(r);
}
END_TEST

/* ---- fast exp ------------------------------------------------------------ */

START_TEST(expf_accuracy) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.00137f) {
    double e = exp((double)x), rel = fabs(seqk_expf(x) - e) / e;
    worst = fmax(worst, rel);
  }
  ck_assert_msg(worst < 2.5e-7, "seqk_expf max relative error %g", worst);
  ck_assert_float_eq(seqk_expf(0.0f), 1.0f);
  ck_assert_float_eq(seqk_expf(-1000.0f), 0.0f);
  ck_assert(seqk_expf(1000.0f) > 1e38f && isfinite(seqk_expf(1000.0f)));
  ck_assert(isnan(seqk_expf(NAN)) && isnan(seqk_expf(INFINITY)) && isnan(seqk_expf(-INFINITY)));
  ck_assert(seqk_sigmf(-1000.0f) >= 0.0f && seqk_sigmf(-1000.0f) < 1e-38f);
  ck_assert_float_eq(seqk_sigmf(1000.0f), 1.0f);
  double wt = 0, ws = 0;
  for (float x = -20.0f; x <= 20.0f; x += 0.000917f) {
    wt = fmax(wt, fabs(seqk_tanhf(x) - tanh((double)x)));
    ws = fmax(ws, fabs(seqk_sigmf(x) - 1.0 / (1.0 + exp(-(double)x))));
  }
  ck_assert_msg(wt < 3e-7 && ws < 2e-7, "tanh abs err %g, sigmoid abs err %g", wt, ws);
}
END_TEST

/* ---- embedding ------------------------------------------------------------ */

START_TEST(emb_gather_scatter) {
  int V = 5, d = 3; long n = 6;
  float E[15], ids[6] = {0, 4, 2, 4, 7, 0.5f}, out[18], dout[18], dE[15] = {0};
  fill(E, 15, -1, 1); fill(dout, 18, -1, 1);
  ck_assert_int_eq(seqk_emb_gather(n, d, V, E, ids, out), 2);   /* 7 and 0.5 are bad */
  for (int k = 0; k < 4; k++)
    for (int j = 0; j < d; j++) ck_assert_float_eq(out[k * d + j], E[(int)ids[k] * d + j]);
  for (int j = 0; j < d; j++) { ck_assert_float_eq(out[4 * d + j], 0); ck_assert_float_eq(out[5 * d + j], 0); }
  seqk_emb_scatter(n, d, V, dout, ids, 0, dE);                  /* padding id 0 skipped */
  for (int j = 0; j < d; j++) {
    ck_assert_float_eq(dE[0 * d + j], 0);
    ck_assert_float_eq(dE[1 * d + j], 0);
    ck_assert_float_eq(dE[2 * d + j], dout[2 * d + j]);
    ck_assert_float_eq(dE[4 * d + j], dout[1 * d + j] + dout[3 * d + j]);
  }
  memset(dE, 0, sizeof dE);
  seqk_emb_scatter(n, d, V, dout, ids, -1, dE);                 /* nothing skipped */
  for (int j = 0; j < d; j++) ck_assert_float_eq(dE[0 * d + j], dout[0 * d + j]);
}
END_TEST

/* ---- softmax + cross-entropy ----------------------------------------------- */

START_TEST(xent_vs_naive_and_fd) {
  long N = 7; int V = _i ? 37 : 6, ignore = 0;   /* 37: two 16-lane chunks and a tail */
  float *x = fnew(N * V), *lse = fnew(N), *g = fnew(N * V), *g2 = fnew(N * V);
  float tg[7] = {1, 0, 5, 3, 0, 2, 5};
  fill(x, N * V, -3, 3);
  x[2 * V + 1] = 80.0f; x[3 * V] = -80.0f;                 /* large values: stability */
  x[4 * V + V - 1] = 50.0f; x[5 * V + V / 2] = -1e30f;      /* max in the tail; a huge negative */
  double sum; long cnt;
  ck_assert_int_eq(seqk_xent_fwd(N, V, x, tg, ignore, lse, &sum, &cnt), 0);
  ck_assert_int_eq(cnt, 5);
  double want = 0;
  for (long r = 0; r < N; r++) {
    if (tg[r] == ignore) continue;
    double m = -1e30, s = 0;
    for (int j = 0; j < V; j++) m = fmax(m, x[r * V + j]);
    for (int j = 0; j < V; j++) s += exp(x[r * V + j] - m);
    want += m + log(s) - x[r * V + (int)tg[r]];
  }
  close_at(sum, want, 1e-5, 1e-6, "xent sum", 0);
  float scale = 0.7f;
  seqk_xent_bwd(N, V, x, tg, ignore, lse, scale, g);
  seqk_xent_bwd(N, V, x, tg, ignore, NULL, scale, g2);          /* recomputed lse: same */
  close_vec(g, g2, N * V, 1e-7, 1e-6, "dlogits(lse=NULL)");
  const float eps = 1e-2f;
  for (long k = 0; k < N * V; k++) {
    float s = x[k]; double lp, lm; long c;
    x[k] = s + eps; seqk_xent_fwd(N, V, x, tg, ignore, NULL, &lp, &c);
    x[k] = s - eps; seqk_xent_fwd(N, V, x, tg, ignore, NULL, &lm, &c);
    x[k] = s;
    close_at(g[k], scale * (lp - lm) / (2 * eps), 2e-4, 2e-3, "dlogits", k);
    if (tg[k / V] == ignore) ck_assert_float_eq(g[k], 0.0f);
  }
  /* Adds into dlogits. */
  seqk_xent_bwd(N, V, x, tg, ignore, lse, scale, g2);
  for (long k = 0; k < N * V; k++) close_at(g2[k], 2 * g[k], 1e-6, 1e-6, "dlogits twice", k);
  /* No ignore id: every row counts; bad targets are reported and skipped. */
  float tb[7] = {1, 0, 5, 3, (float)(V + 3), -1, 2.5f};
  ck_assert_int_eq(seqk_xent_fwd(N, V, x, tb, -1, lse, &sum, &cnt), 3);
  ck_assert_int_eq(cnt, 4);
  free(x); free(lse); free(g); free(g2);
}
END_TEST

static Suite *lstm_suite(void) {
  Suite *s = suite_create("lstm");
  TCase *tc = tcase_create("cell");
  tcase_add_test(tc, cell_fwd_hand);
  tcase_add_test(tc, cell_bwd_fd);
  suite_add_tcase(s, tc);
  tc = tcase_create("seq");
  tcase_set_timeout(tc, 600);                 /* finite differences at H = 230: minutes under ASan on a busy machine */
  tcase_add_test(tc, lstm_seq_fixed);
  tcase_add_test(tc, lstm_seq_random);
  tcase_add_test(tc, lstm_seq_unit_blocks);
  tcase_add_test(tc, lstm_seq_row_blocks);
  tcase_add_test(tc, lstm_own_step_kernel);
  tcase_add_test(tc, lstm_len_hold);
  tcase_add_test(tc, arena_blocks_stay_inside);
  tcase_add_test(tc, lstm_workspace_bytes);
  tcase_add_test(tc, lstm_vs_torch);
  suite_add_tcase(s, tc);
  tc = tcase_create("seqk");
  tcase_add_test(tc, expf_accuracy);
  tcase_add_test(tc, drop_mask_stats);
  tcase_add_test(tc, rng_advance_steps);
  tcase_add_test(tc, drop_mask_matches_serial);
  tcase_add_test(tc, emb_gather_scatter);
  tcase_add_loop_test(tc, xent_vs_naive_and_fd, 0, 2);
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
