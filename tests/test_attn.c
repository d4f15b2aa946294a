/*
** test_attn.c — checks the attention kernels (attn.c): the assignment's own
** hand-worked numbers, every gradient against central finite differences,
** and the whole input-feeding decoder against PyTorch (its values committed
** in tests/fixtures/attn_torch.txt by tests/attn_torch.py).
*/
#include "testutil.h"
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attn.h"
#include "lstm.h"
#include "par.h"
#include "gemm.h"

/* ---- test helpers ------------------------------------------------------- */

/* Test-local data generator (independent of util.c's Rng). */
static unsigned long long tseed = 2024;
static double trand(void) {   /* [0,1) */
  tseed = tseed * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(tseed >> 11) / 9007199254740992.0;
}
static void fill(float *p, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * (float)trand();
}

/* Every allocation of one test, freed together by pool_free. */
typedef struct Pool { void *p[128]; int n; } Pool;
static void *pool_get(Pool *m, size_t bytes) {
  ck_assert_int_lt(m->n, 128);
  bytes = (bytes + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, bytes ? bytes : 64);
  ck_assert_ptr_nonnull(p);
  memset(p, 0, bytes ? bytes : 64);
  return m->p[m->n++] = p;
}
static float *fz(Pool *m, size_t n) { return pool_get(m, n * sizeof(float)); }
static void pool_free(Pool *m) { while (m->n) free(m->p[--m->n]); }

/* |a-b| <= atol + rtol*max(|a|,|b|), with a located message. */
static void close_at(double a, double b, double atol, double rtol, const char *what, size_t i) {
  double tol = atol + rtol * fmax(fabs(a), fabs(b));
  ck_assert_msg(fabs(a - b) <= tol, "%s[%zu]: %.8g vs %.8g (tol %.3g)", what, i, a, b, tol);
}

/* ---- the assignment's attention example ---------------------------------- */

/* Dimension 1, W_in = [[1]], W_c = [[1, 0]] (h~ = tanh(context)), memory
** [0.3, 0.8, 1, 7] with source length 3 (the 7 is padding).  By hand:
** q = 0.5: scores .15, .4, .5 -> weights .2700 .3467 .3832, context .7416,
**          h~ = tanh(.7416) = .6301;
** q = 5:   scores 1.5, 4, 5 -> weights .0216 .2631 .7153, context .9323,
**          h~ = .7316. */
static const float ex_mem[4] = {0.3f, 0.8f, 1.0f, 7.0f};
static const float ex_Win[1] = {1}, ex_Wc[2] = {1, 0};

START_TEST(assignment_one_query) {
  int len[1] = {3};
  float cq[2] = {0, 0.5f}, qin[1], w[4], ht[1];
  attn_step_fwd(1, 4, 1, ex_mem, len, ex_Win, ex_Wc, cq, qin, w, ht);
  printf("assignment q=0.5: h~ %.4f  weights %.4f %.4f %.4f %.4f\n", ht[0], w[0], w[1], w[2], w[3]);
  ck_assert_float_eq_tol(ht[0], 0.6301f, 5e-5f);
  ck_assert_float_eq_tol(w[0], 0.2700f, 5e-5f);
  ck_assert_float_eq_tol(w[1], 0.3467f, 5e-5f);
  ck_assert_float_eq_tol(w[2], 0.3832f, 5e-5f);
  ck_assert(w[3] == 0.0f);
}
END_TEST

START_TEST(assignment_two_queries) {
  /* as a batch of two rows: memory [S,B,H] = [4,2,1], the same for both */
  float mem[8];
  for (int j = 0; j < 4; j++) mem[2 * j] = mem[2 * j + 1] = ex_mem[j];
  int len[2] = {3, 3};
  float cq[4] = {0, 0.5f, 0, 5.0f}, qin[2], w[8], ht[2];
  attn_step_fwd(2, 4, 1, mem, len, ex_Win, ex_Wc, cq, qin, w, ht);
  printf("assignment q=[0.5,5]: h~ %.4f %.4f  weights(q=5) %.4f %.4f %.4f %.4f\n",
         ht[0], ht[1], w[4], w[5], w[6], w[7]);
  ck_assert_float_eq_tol(ht[0], 0.6301f, 5e-5f);
  ck_assert_float_eq_tol(ht[1], 0.7316f, 5e-5f);
  ck_assert_float_eq_tol(w[4], 0.0216f, 5e-5f);
  ck_assert_float_eq_tol(w[5], 0.2631f, 5e-5f);
  ck_assert_float_eq_tol(w[6], 0.7153f, 5e-5f);
  ck_assert(w[3] == 0.0f && w[7] == 0.0f);
  /* and as two separate steps: the same numbers */
  float cq1[2] = {0, 5.0f}, w1[4], h1[1];
  attn_step_fwd(1, 4, 1, ex_mem, len, ex_Win, ex_Wc, cq1, qin, w1, h1);
  ck_assert(h1[0] == ht[1]);
  for (int j = 0; j < 4; j++) ck_assert(w1[j] == w[4 + j]);
}
END_TEST

/* ---- one step: gradients by finite differences -------------------------- */

typedef struct StepProb {
  int B, S, H; int len[4];
  float *q, *mem, *Win, *Wc, *R;                 /* R: loss = sum(R * h~) */
  float *cq, *qin, *w, *ht, *dq, *dmem, *dWin, *dWc, *scratch;
} StepProb;

static double step_loss(StepProb *P) {
  int B = P->B, H = P->H;
  for (int b = 0; b < B; b++) memcpy(P->cq + b * 2 * H + H, P->q + b * H, sizeof(float) * H);
  attn_step_fwd(B, P->S, H, P->mem, P->len, P->Win, P->Wc, P->cq, P->qin, P->w, P->ht);
  double L = 0;
  for (int i = 0; i < B * H; i++) L += (double)P->R[i] * P->ht[i];
  return L;
}

/* Central differences of loss() w.r.t. every element of x [n] against g. */
typedef double (*LossFn)(void *);
static void fd_check(LossFn loss, void *P, float *x, const float *g, size_t n, const char *what) {
  const float eps = 1e-2f;
  for (size_t i = 0; i < n; i++) {
    float x0 = x[i];
    x[i] = x0 + eps; double lp = loss(P);
    x[i] = x0 - eps; double lm = loss(P);
    x[i] = x0;
    close_at(g[i], (lp - lm) / (2.0 * eps), 2e-3, 2e-2, what, i);
  }
}
static double step_loss_v(void *P) { return step_loss(P); }

START_TEST(step_gradients) {
  Pool m = {0};
  StepProb P = {.B = 4, .S = 5, .H = 3, .len = {5, 2, 0, 4}};
  int B = P.B, S = P.S, H = P.H;
  P.q = fz(&m, B * H); P.mem = fz(&m, S * B * H); P.Win = fz(&m, H * H); P.Wc = fz(&m, 2 * H * H);
  P.R = fz(&m, B * H);
  P.cq = fz(&m, 2 * B * H); P.qin = fz(&m, B * H); P.w = fz(&m, B * S); P.ht = fz(&m, B * H);
  P.dq = fz(&m, B * H); P.dmem = fz(&m, S * B * H); P.dWin = fz(&m, H * H); P.dWc = fz(&m, 2 * H * H);
  P.scratch = fz(&m, attn_step_scratch(B, S, H));
  fill(P.q, B * H, -1, 1); fill(P.mem, S * B * H, -1, 1); fill(P.Win, H * H, -1, 1);
  fill(P.Wc, 2 * H * H, -1, 1); fill(P.R, B * H, -1, 1);

  step_loss(&P);
  attn_step_bwd(B, S, H, P.mem, P.len, P.Win, P.Wc, P.cq, P.qin, P.w, P.ht, P.R,
                P.dq, P.dmem, P.dWin, P.dWc, P.scratch);
  /* masked memory rows get exactly no gradient, weights exactly 0 there */
  for (int b = 0; b < B; b++)
    for (int j = P.len[b]; j < S; j++) {
      ck_assert(P.w[b * S + j] == 0.0f);
      for (int k = 0; k < H; k++) ck_assert(P.dmem[(j * B + b) * H + k] == 0.0f);
    }
  fd_check(step_loss_v, &P, P.q, P.dq, B * H, "dq");
  fd_check(step_loss_v, &P, P.mem, P.dmem, S * B * H, "dmem");
  fd_check(step_loss_v, &P, P.Win, P.dWin, H * H, "dW_in");
  fd_check(step_loss_v, &P, P.Wc, P.dWc, 2 * H * H, "dW_c");
  /* accumulation: a second backward doubles every gradient */
  float *before = fz(&m, H * H);
  memcpy(before, P.dWin, sizeof(float) * H * H);
  step_loss(&P);                   /* fd_check left the state of a perturbed forward */
  attn_step_bwd(B, S, H, P.mem, P.len, P.Win, P.Wc, P.cq, P.qin, P.w, P.ht, P.R,
                P.dq, P.dmem, P.dWin, P.dWc, P.scratch);
  for (int i = 0; i < H * H; i++) close_at(P.dWin[i], 2 * before[i], 1e-6, 1e-5, "2x dW_in", i);
  pool_free(&m);
}
END_TEST

/* ---- the decoder: a test problem ---------------------------------------- */

#define MAXL 4
typedef struct DecProb {
  AttnDec d;
  AttnCell cell[MAXL];
  AttnParams p;
  float *Wih[MAXL], *Whh[MAXL], *b[MAXL], *Win, *Wc;
  float *e, *mem, *h0, *c0, *feed0, *drop;
  int len[8];
  float *Rh, *Rc, *Rf;         /* loss = sum(dout*out) + sum(Rh*hN) + sum(Rc*cN) + sum(Rf*feedN) */
  void *ws;
} DecProb;

/* Builds a random problem.  with_state: give h0, c0, feed0 (else NULL);
** p_drop > 0: a fixed dropout mask with that rate. */
static void dec_make(DecProb *P, Pool *m, int T, int B, int S, int E, int H, int L,
                     const int *len, int with_state, float p_drop) {
  memset(P, 0, sizeof *P);
  ck_assert(L <= MAXL && B <= 8);
  AttnDec *d = &P->d;
  d->T = T; d->B = B; d->S = S; d->E = E; d->H = H; d->L = L;
  size_t BH = (size_t)B * H;
  for (int l = 0; l < L; l++) {
    int in = l ? H : E + H;
    P->Wih[l] = fz(m, 4 * H * in); P->Whh[l] = fz(m, 4 * H * H); P->b[l] = fz(m, 4 * H);
    fill(P->Wih[l], 4 * H * in, -0.6f, 0.6f); fill(P->Whh[l], 4 * H * H, -0.6f, 0.6f);
    fill(P->b[l], 4 * H, -0.5f, 0.5f);
    P->cell[l] = (AttnCell){P->Wih[l], P->Whh[l], P->b[l],
                            fz(m, 4 * H * in), fz(m, 4 * H * H), fz(m, 4 * H)};
  }
  P->Win = fz(m, H * H); P->Wc = fz(m, 2 * H * H);
  fill(P->Win, H * H, -1, 1); fill(P->Wc, 2 * H * H, -1, 1);
  P->p = (AttnParams){P->cell, P->Win, P->Wc, fz(m, H * H), fz(m, 2 * H * H)};

  P->e = fz(m, (size_t)T * B * E); fill(P->e, (size_t)T * B * E, -1, 1);
  P->mem = fz(m, (size_t)S * BH); fill(P->mem, (size_t)S * BH, -1, 1);
  for (int b = 0; b < B; b++) P->len[b] = len[b];
  d->e = P->e; d->mem = P->mem; d->len = P->len;
  if (with_state) {
    P->h0 = fz(m, L * BH); P->c0 = fz(m, L * BH); P->feed0 = fz(m, BH);
    fill(P->h0, L * BH, -0.8f, 0.8f); fill(P->c0, L * BH, -0.8f, 0.8f); fill(P->feed0, BH, -0.8f, 0.8f);
    d->h0 = P->h0; d->c0 = P->c0; d->feed0 = P->feed0;
  }
  if (p_drop > 0 && L > 1) {
    size_t n = (size_t)(L - 1) * T * BH;
    P->drop = fz(m, n);
    for (size_t i = 0; i < n; i++) P->drop[i] = trand() < p_drop ? 0.0f : 1.0f / (1.0f - p_drop);
    d->drop = P->drop;
  }
  d->out = fz(m, (size_t)T * BH); d->hN = fz(m, L * BH); d->cN = fz(m, L * BH); d->feedN = fz(m, BH);
  float *dout = fz(m, (size_t)T * BH);
  fill(dout, (size_t)T * BH, -1, 1); d->dout = dout;
  P->Rh = fz(m, L * BH); P->Rc = fz(m, L * BH); P->Rf = fz(m, BH);
  fill(P->Rh, L * BH, -1, 1); fill(P->Rc, L * BH, -1, 1); fill(P->Rf, BH, -1, 1);
  d->dhN = P->Rh; d->dcN = P->Rc; d->dfeedN = P->Rf;
  d->de = fz(m, (size_t)T * B * E); d->dmem = fz(m, (size_t)S * BH);
  if (with_state) { d->dh0 = fz(m, L * BH); d->dc0 = fz(m, L * BH); d->dfeed0 = fz(m, BH); }
  size_t ws = attn_decoder_ws_bytes(d);
  ck_assert(ws > 0);
  P->ws = pool_get(m, ws);
}

static double dec_loss(void *vp) {
  DecProb *P = vp;
  AttnDec *d = &P->d;
  size_t BH = (size_t)d->B * d->H, TBH = (size_t)d->T * BH, LBH = (size_t)d->L * BH;
  attn_decoder_fwd(d, &P->p, P->ws);
  double L = 0;
  for (size_t i = 0; i < TBH; i++) L += (double)d->dout[i] * d->out[i];
  for (size_t i = 0; i < LBH; i++) L += (double)P->Rh[i] * d->hN[i] + (double)P->Rc[i] * d->cN[i];
  for (size_t i = 0; i < BH; i++) L += (double)P->Rf[i] * d->feedN[i];
  return L;
}

/* Forward + backward, then every gradient against finite differences. */
static void dec_fd_all(DecProb *P) {
  AttnDec *d = &P->d;
  int T = d->T, B = d->B, S = d->S, E = d->E, H = d->H, L = d->L;
  size_t BH = (size_t)B * H;
  dec_loss(P);
  attn_decoder_bwd(d, &P->p, P->ws);
  /* padding: weights exactly 0, memory rows exactly no gradient */
  const float *w = attn_decoder_weights(d, P->ws);
  for (int t = 0; t < T; t++)
    for (int b = 0; b < B; b++)
      for (int j = P->len[b]; j < S; j++) ck_assert(w[((size_t)t * B + b) * S + j] == 0.0f);
  for (int b = 0; b < B; b++)
    for (int j = P->len[b]; j < S; j++)
      for (int k = 0; k < H; k++) ck_assert(d->dmem[((size_t)j * B + b) * H + k] == 0.0f);

  fd_check(dec_loss, P, P->e, d->de, (size_t)T * B * E, "de");
  fd_check(dec_loss, P, P->mem, d->dmem, (size_t)S * BH, "dmem");
  if (P->h0) {
    fd_check(dec_loss, P, P->h0, d->dh0, L * BH, "dh0");
    fd_check(dec_loss, P, P->c0, d->dc0, L * BH, "dc0");
    fd_check(dec_loss, P, P->feed0, d->dfeed0, BH, "dfeed0");
  }
  for (int l = 0; l < L; l++) {
    int in = l ? H : E + H;
    char name[32];
    snprintf(name, sizeof name, "dW_ih[%d]", l);
    fd_check(dec_loss, P, P->Wih[l], P->cell[l].dW_ih, 4 * H * in, name);
    snprintf(name, sizeof name, "dW_hh[%d]", l);
    fd_check(dec_loss, P, P->Whh[l], P->cell[l].dW_hh, 4 * H * H, name);
    snprintf(name, sizeof name, "db[%d]", l);
    fd_check(dec_loss, P, P->b[l], P->cell[l].db, 4 * H, name);
  }
  fd_check(dec_loss, P, P->Win, P->p.dW_in, H * H, "dW_in");
  fd_check(dec_loss, P, P->Wc, P->p.dW_c, 2 * H * H, "dW_c");
}

START_TEST(decoder_gradients_3layers_dropout) {
  Pool m = {0};
  DecProb P;
  int len[3] = {5, 2, 3};
  dec_make(&P, &m, 4, 3, 5, 3, 4, 3, len, 1, 0.3f);
  dec_fd_all(&P);
  pool_free(&m);
}
END_TEST

START_TEST(decoder_gradients_1layer_nostate) {
  Pool m = {0};
  DecProb P;
  int len[2] = {1, 4};
  dec_make(&P, &m, 3, 2, 4, 2, 3, 1, len, 0, 0);
  dec_fd_all(&P);
  pool_free(&m);
}
END_TEST

START_TEST(decoder_gradients_2layers_zero_length_row) {
  Pool m = {0};
  DecProb P;
  int len[3] = {0, 3, 2};
  dec_make(&P, &m, 3, 3, 3, 2, 3, 2, len, 1, 0.5f);
  dec_fd_all(&P);
  pool_free(&m);
}
END_TEST

/* Padding values never matter; a second forward gives identical numbers. */
START_TEST(decoder_padding_and_determinism) {
  Pool m = {0};
  DecProb P;
  int len[3] = {2, 5, 1};
  dec_make(&P, &m, 4, 3, 5, 3, 4, 2, len, 1, 0.2f);
  AttnDec *d = &P.d;
  size_t n = (size_t)d->T * d->B * d->H;
  dec_loss(&P);
  float *out1 = fz(&m, n);
  memcpy(out1, d->out, n * sizeof(float));
  for (int b = 0; b < d->B; b++)
    for (int j = P.len[b]; j < d->S; j++)
      for (int k = 0; k < d->H; k++) P.mem[((size_t)j * d->B + b) * d->H + k] = 1e3f * (float)(k + 1);
  dec_loss(&P);
  for (size_t i = 0; i < n; i++) ck_assert_msg(d->out[i] == out1[i], "out[%zu] changed", i);
  pool_free(&m);
}
END_TEST

/* Every gradient buffer of P, in a fixed order: (pointer, length). */
static int dec_grads(DecProb *P, float **g, size_t *n) {
  AttnDec *d = &P->d;
  size_t BH = (size_t)d->B * d->H, H = (size_t)d->H;
  int k = 0;
  g[k] = d->de; n[k++] = (size_t)d->T * d->B * d->E;
  g[k] = d->dmem; n[k++] = (size_t)d->S * BH;
  g[k] = d->dh0; n[k++] = d->L * BH;
  g[k] = d->dc0; n[k++] = d->L * BH;
  g[k] = d->dfeed0; n[k++] = BH;
  for (int l = 0; l < d->L; l++) {
    g[k] = P->cell[l].dW_ih; n[k++] = 4 * H * (l ? H : (size_t)d->E + H);
    g[k] = P->cell[l].dW_hh; n[k++] = 4 * H * H;
    g[k] = P->cell[l].db; n[k++] = 4 * H;
  }
  g[k] = P->p.dW_in; n[k++] = H * H;
  g[k] = P->p.dW_c; n[k++] = 2 * H * H;
  return k;
}

/* A fresh forward and backward: the ng gradients g (dec_grads) zeroed and
** the workspace filled with NaN first, so nothing left from the last run
** counts. */
static void dec_rerun(DecProb *P, float **g, const size_t *n, int ng) {
  for (int k = 0; k < ng; k++) memset(g[k], 0, n[k] * sizeof(float));
  memset(P->ws, 0xff, attn_decoder_ws_bytes(&P->d));
  dec_loss(P);
  attn_decoder_bwd(&P->d, &P->p, P->ws);
}

/* P's outputs and every gradient on two threads against one, then (fd) the
** state gradients against finite differences (still two threads). */
static void two_threads_vs_one(DecProb *P, Pool *m, const char *how, int fd) {
  AttnDec *d = &P->d;
  size_t nout = (size_t)d->T * d->B * d->H;
  float *g[4 + 3 * MAXL + 2], *g1[4 + 3 * MAXL + 2], *out1 = fz(m, nout);
  size_t n[4 + 3 * MAXL + 2];
  int ng = dec_grads(P, g, n);
  char what[80];
  for (int threads = 1; threads <= 2; threads++) {
    ck_assert_int_eq(par_init(threads), threads);
    dec_rerun(P, g, n, ng);
    if (threads == 1) {
      memcpy(out1, d->out, nout * sizeof(float));
      for (int k = 0; k < ng; k++) { g1[k] = fz(m, n[k]); memcpy(g1[k], g[k], n[k] * sizeof(float)); }
      continue;
    }
    snprintf(what, sizeof what, "out, %s vs one thread", how);
    for (size_t i = 0; i < nout; i++) close_at(d->out[i], out1[i], 1e-5, 1e-4, what, i);
    snprintf(what, sizeof what, "gradient, %s vs one thread", how);
    for (int k = 0; k < ng; k++)
      for (size_t i = 0; i < n[k]; i++) close_at(g[k][i], g1[k][i], 1e-5, 1e-4, what, i);
  }
  if (fd) {
    snprintf(what, sizeof what, "dh0 (%s)", how);
    fd_check(dec_loss, P, P->h0, d->dh0, d->L * (size_t)d->B * d->H, what);
    snprintf(what, sizeof what, "dfeed0 (%s)", how);
    fd_check(dec_loss, P, P->feed0, d->dfeed0, (size_t)d->B * d->H, what);
  }
  par_init(1);
}

/* With a pool each cell step is split into blocks of hidden units (lstm.c's
** lstm_step_fwd/bwd): H = 70 gives blocks of 32 and 38 units on two threads.  The
** same outputs and gradients as one thread, and the state gradients
** against finite differences. */
START_TEST(decoder_unit_blocks) {
  Pool m = {0};
  DecProb P;
  int len[3] = {4, 2, 3};
  dec_make(&P, &m, 3, 3, 4, 3, 70, 2, len, 1, 0.2f);
  for (int l = 0; l < P.d.L; l++) {     /* weights of dec_make's size saturate 70 units: finite differences need less */
    size_t in = l ? 70 : 73;
    for (size_t i = 0; i < 4 * 70 * in; i++) P.Wih[l][i] *= 0.1f;
    for (size_t i = 0; i < 4 * 70 * 70; i++) P.Whh[l][i] *= 0.1f;
  }
  two_threads_vs_one(&P, &m, "two unit blocks", 1);
  pool_free(&m);
}
END_TEST

/* With 8 streams, two threads and at most 112 units the decoder is split by
** streams instead (attn.c's dec_blocks): rows 0-3 and 4-7 each run every
** step on their own thread, the second block reading its lengths, memory
** and state at an offset; lengths 0 and 1, dropout and a given state. */
START_TEST(decoder_row_blocks) {
  Pool m = {0};
  DecProb P;
  int len[8] = {4, 2, 3, 1, 4, 0, 2, 3};
  dec_make(&P, &m, 3, 8, 4, 3, 12, 2, len, 1, 0.2f);
  ck_assert_int_eq(par_init(2), 2);
  ck_assert_int_eq(lstm_row_blocks(8, 12, 112, 0), 2);      /* the split this test is for */
  ck_assert_int_eq(lstm_row_blocks(8, 128, 144, 0), 2);     /* the limit is the caller's */
  ck_assert_int_eq(lstm_row_blocks(8, 128, 112, 0), 1);
  two_threads_vs_one(&P, &m, "two row blocks", 1);
  pool_free(&m);
}
END_TEST

/* Above 112 units, in multiples of 16, the cells' steps read their weights
** from packed copies (gemm_panels_on, forced on here at H = 128): the same
** outputs and gradients as OpenBLAS on the weights in place, one thread;
** then two threads against one (B = 3: two unit blocks; B = 8: two row
** blocks, which panels allow at any width).  (Finite differences at 128
** units would take minutes under ASan; the tests above take them at sizes
** where the steps run the same code in place.) */
START_TEST(decoder_packed_weights) {
  int len[8] = {4, 2, 3, 1, 4, 0, 2, 3};
  for (int B = 3; B <= 8; B += 5) {
    Pool m = {0};
    DecProb P;
    gemm_rows_force(1);              /* before dec_make: the workspace holds the panels */
    dec_make(&P, &m, 3, B, 4, 3, 128, 2, len, 1, 0.2f);
    gemm_rows_force(0);              /* and the in-place layout, if that is the larger */
    size_t ws0 = attn_decoder_ws_bytes(&P.d);
    gemm_rows_force(1);
    if (ws0 > attn_decoder_ws_bytes(&P.d)) P.ws = pool_get(&m, ws0);
    for (int l = 0; l < P.d.L; l++) {  /* unsaturated cells at 128 units */
      size_t in = l ? 128 : 131;
      for (size_t i = 0; i < 4 * 128 * in; i++) P.Wih[l][i] *= 0.1f;
      for (size_t i = 0; i < 4 * 128 * 128; i++) P.Whh[l][i] *= 0.1f;
    }
    /* and attention: W_in and W_c in [-1, 1] at 128 units give scores of
    ** +-20 and a saturated tanh, where the two orders of the sums' rounding
    ** drift apart by up to 2e-5 in 3 steps (2 OpenBLAS kernels differ as
    ** much); scaled, they stay within 1e-6 on any weights drawn */
    for (size_t i = 0; i < 128 * 128; i++) P.Win[i] *= 0.1f;
    for (size_t i = 0; i < 2 * 128 * 128; i++) P.Wc[i] *= 0.1f;
    AttnDec *d = &P.d;
    size_t nout = (size_t)d->T * d->B * d->H;
    float *g[4 + 3 * MAXL + 2], *g0[4 + 3 * MAXL + 2], *out0 = fz(&m, nout);
    size_t n[4 + 3 * MAXL + 2];
    int ng = dec_grads(&P, g, n);
    for (int on = 0; on <= 1; on++) {
      gemm_rows_force(on);
      AttnTape t;
      ck_assert_int_eq(attn_decoder_tape(d, P.ws, &t), 0);
      ck_assert_int_eq((t.WcatTP != NULL) + (t.WcatP != NULL) + (t.WcatT == NULL) + (t.Wcat == NULL), 4 * on);
      ck_assert_int_eq((t.WinTP != NULL) + (t.WcTP != NULL) + (t.WinP != NULL) + (t.WcP != NULL), 4 * on);
      dec_rerun(&P, g, n, ng);
      if (!on) {
        memcpy(out0, d->out, nout * sizeof(float));
        for (int k = 0; k < ng; k++) { g0[k] = fz(&m, n[k]); memcpy(g0[k], g[k], n[k] * sizeof(float)); }
        continue;
      }
      for (size_t i = 0; i < nout; i++) close_at(d->out[i], out0[i], 1e-5, 1e-4, "out, panels vs in place", i);
      for (int k = 0; k < ng; k++) {   /* other roundings through T steps: to 1e-5 of each gradient's scale */
        double big = 1;
        for (size_t i = 0; i < n[k]; i++) big = fmax(big, fabs(g0[k][i]));
        for (size_t i = 0; i < n[k]; i++) close_at(g[k][i], g0[k][i], 1e-5 * big, 1e-4, "gradient, panels vs in place", i);
      }
    }
    ck_assert_int_eq(par_init(2), 2);
    ck_assert_int_eq(attn_decoder_row_blocks(d), B == 8 ? 2 : 1);
    par_init(1);
    two_threads_vs_one(&P, &m, B == 3 ? "packed weights, two unit blocks" : "packed weights, two row blocks", 0);
    gemm_rows_force(-1);
    pool_free(&m);
  }
}
END_TEST

/* Invalid sizes ask for no workspace rather than a wrong one. */
START_TEST(decoder_ws_sizes) {
  AttnDec d = {.T = 3, .B = 2, .S = 4, .E = 5, .H = 6, .L = 2};
  ck_assert(attn_decoder_ws_bytes(&d) > 0);
  d.T = 0; ck_assert(attn_decoder_ws_bytes(&d) == 0);
  d.T = 3; d.L = 0; ck_assert(attn_decoder_ws_bytes(&d) == 0);
  d.L = 2; d.H = -1; ck_assert(attn_decoder_ws_bytes(&d) == 0);
  d.H = 1 << 30; d.T = 1 << 30; d.B = 1 << 30; ck_assert(attn_decoder_ws_bytes(&d) == 0);
}
END_TEST

/* ---- the decoder against PyTorch ---------------------------------------- */

/* Largest |graphrun - PyTorch| / max(1, |PyTorch|) and how many values were compared. */
static double cmp_max; static size_t cmp_n;

static void cmp(const char *sec, const char *name, const float *x, size_t n) {
  float *ref = tu_fix_get(sec, name, n);
  for (size_t i = 0; i < n; i++) {
    double tol = 1e-5 * fmax(1.0, fabs(ref[i]));
    cmp_max = fmax(cmp_max, fabs(x[i] - ref[i]) / fmax(1.0, fabs(ref[i])));
    cmp_n++;
    if (fabs(x[i] - ref[i]) > tol) {
      double r = ref[i];
      free(ref);
      ck_abort_msg("%s[%zu]: graphrun %.8g, PyTorch %.8g", name, i, x[i], r);
    }
  }
  free(ref);
}

/* Case NAME of tests/fixtures/attn_torch.txt (tests/attn_torch.py): its
** inputs into a problem, then every output and gradient against PyTorch's. */
static void torch_compare(const char *name) {
  char *text = tu_fixture("attn_torch.txt");
  const char *sec = tu_fix_case(text, name);
  float dims[6], lenf[8];
  tu_fix_read(sec, "dims", dims, 6);
  int T = (int)dims[0], B = (int)dims[1], S = (int)dims[2], E = (int)dims[3], H = (int)dims[4], L = (int)dims[5];
  ck_assert(B <= 8 && L >= 2);
  tu_fix_read(sec, "len", lenf, (size_t)B);
  int len[8];
  for (int b = 0; b < B; b++) len[b] = (int)lenf[b];
  Pool m = {0};
  DecProb P;
  dec_make(&P, &m, T, B, S, E, H, L, len, 1, 0.5f);    /* sizes; the values come from the fixture */
  AttnDec *d = &P.d;
  size_t BH = (size_t)B * H;
  tu_fix_read(sec, "e", P.e, (size_t)T * B * E); tu_fix_read(sec, "mem", P.mem, S * BH);
  tu_fix_read(sec, "h0", P.h0, L * BH); tu_fix_read(sec, "c0", P.c0, L * BH);
  tu_fix_read(sec, "feed0", P.feed0, BH);
  tu_fix_read(sec, "drop", P.drop, (size_t)(L - 1) * T * BH);
  for (int l = 0; l < L; l++) {
    char nm[32]; int in = l ? H : E + H;
    snprintf(nm, sizeof nm, "W_ih%d", l); tu_fix_read(sec, nm, P.Wih[l], 4 * H * in);
    snprintf(nm, sizeof nm, "W_hh%d", l); tu_fix_read(sec, nm, P.Whh[l], 4 * H * H);
    snprintf(nm, sizeof nm, "b%d", l); tu_fix_read(sec, nm, P.b[l], 4 * H);
  }
  tu_fix_read(sec, "W_in", P.Win, H * H); tu_fix_read(sec, "W_c", P.Wc, 2 * H * H);
  tu_fix_read(sec, "Rout", (float *)d->dout, T * BH); tu_fix_read(sec, "Rh", P.Rh, L * BH);
  tu_fix_read(sec, "Rc", P.Rc, L * BH); tu_fix_read(sec, "Rf", P.Rf, BH);
  dec_loss(&P);
  attn_decoder_bwd(d, &P.p, P.ws);

  cmp_max = 0; cmp_n = 0;
  cmp(sec, "out", d->out, T * BH);
  cmp(sec, "hN", d->hN, L * BH); cmp(sec, "cN", d->cN, L * BH); cmp(sec, "feedN", d->feedN, BH);
  cmp(sec, "attn", attn_decoder_weights(d, P.ws), (size_t)T * B * S);
  cmp(sec, "de", d->de, (size_t)T * B * E); cmp(sec, "dmem", d->dmem, S * BH);
  cmp(sec, "dh0", d->dh0, L * BH); cmp(sec, "dc0", d->dc0, L * BH); cmp(sec, "dfeed0", d->dfeed0, BH);
  for (int l = 0; l < L; l++) {
    char nm[32]; int in = l ? H : E + H;
    snprintf(nm, sizeof nm, "dW_ih%d", l); cmp(sec, nm, P.cell[l].dW_ih, 4 * H * in);
    snprintf(nm, sizeof nm, "dW_hh%d", l); cmp(sec, nm, P.cell[l].dW_hh, 4 * H * H);
    snprintf(nm, sizeof nm, "db%d", l); cmp(sec, nm, P.cell[l].db, 4 * H);
  }
  cmp(sec, "dW_in", P.p.dW_in, H * H); cmp(sec, "dW_c", P.p.dW_c, 2 * H * H);
  printf("PyTorch agreement (%s, %s): %zu values, max |diff|/max(1,|ref|) %.2g\n",
         name, getenv("GR_FIXTURES") ? getenv("GR_FIXTURES") : "tests/fixtures", cmp_n, cmp_max);
  pool_free(&m);
  free(text);
}

START_TEST(torch_2layers_dropout) { torch_compare("T5B3S6E4H5L2"); }
END_TEST

START_TEST(torch_3layers_wider) { torch_compare("T5B4S7E5H10L3"); }
END_TEST

/* The same with graphrun's own kernel for the steps' few-row products
** (gemm.h), whatever the BLAS kernel would choose; and the finite
** differences of every gradient with it, split by rows on two threads. */
START_TEST(own_step_kernel) {
  gemm_rows_force(1);
  torch_compare("T5B4S7E5H10L3");
  Pool m = {0};
  DecProb P;
  int len[8] = {4, 2, 3, 1, 4, 0, 2, 3};
  dec_make(&P, &m, 3, 8, 4, 3, 12, 2, len, 1, 0.2f);
  ck_assert_int_eq(par_init(2), 2);
  dec_fd_all(&P);
  par_init(1);
  pool_free(&m);
  gemm_rows_force(-1);
}
END_TEST

/* ---- suite -------------------------------------------------------------- */

static Suite *attn_suite(void) {
  Suite *s = suite_create("attn");
  TCase *tc = tcase_create("assignment");
  tcase_add_test(tc, assignment_one_query);
  tcase_add_test(tc, assignment_two_queries);
  suite_add_tcase(s, tc);
  tc = tcase_create("gradients");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, step_gradients);
  tcase_add_test(tc, decoder_gradients_3layers_dropout);
  tcase_add_test(tc, decoder_gradients_1layer_nostate);
  tcase_add_test(tc, decoder_gradients_2layers_zero_length_row);
  tcase_add_test(tc, decoder_padding_and_determinism);
  tcase_add_test(tc, decoder_unit_blocks);
  tcase_add_test(tc, decoder_row_blocks);
  tcase_add_test(tc, decoder_packed_weights);
  tcase_add_test(tc, decoder_ws_sizes);
  suite_add_tcase(s, tc);
  tc = tcase_create("pytorch");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, torch_2layers_dropout);
  tcase_add_test(tc, torch_3layers_wider);
  tcase_add_test(tc, own_step_kernel);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(attn_suite());
  srunner_run_all(sr, CK_NORMAL);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? 1 : 0;
}
