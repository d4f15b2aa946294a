/*
** tfm.c — fused Transformer kernels: layer norm, causal multi-head
** attention, and pre-LN decoder layers over a time-major batch (tfm.h).
**
** Products go to OpenBLAS through par.h's gemm; the row work (layer norm,
** one attention per stream and head) is split over the thread pool with
** par_for, each chunk writing only its own rows, so results do not depend
** on the thread count beyond what gemm's split does.
*/
#include <math.h>
#include <string.h>
#include "tfm.h"
#include "par.h"
#include "seqk.h"

/* ---- layer normalization ------------------------------------------------------ */

typedef struct LnJob {
  int d; float eps;
  const float *x, *g, *b, *mean, *rstd, *dy;
  float *y, *mo, *ro, *dx, *t;
} LnJob;

static void ln_fwd_rows(void *ctx, long lo, long hi) {
  const LnJob *j = ctx;
  const int d = j->d;
  for (long r = lo; r < hi; r++) {
    const float *xr = j->x + r * d;
    float *yr = j->y + r * d;
    float s = 0, v = 0;
    for (int k = 0; k < d; k++) s += xr[k];
    float mu = s / d;
    for (int k = 0; k < d; k++) { float c = xr[k] - mu; v += c * c; }
    float rs = 1.0f / sqrtf(v / d + j->eps);
    for (int k = 0; k < d; k++) yr[k] = (xr[k] - mu) * rs * j->g[k] + j->b[k];
    if (j->mo) j->mo[r] = mu;
    if (j->ro) j->ro[r] = rs;
  }
}

static long row_grain(int d) { return d >= 4096 ? 1 : 4096 / d; }

void tfm_ln_fwd(long N, int d, const float *x, const float *g, const float *b, float eps,
                float *y, float *mean, float *rstd) {
  LnJob j = { .d = d, .eps = eps, .x = x, .g = g, .b = b, .y = y, .mo = mean, .ro = rstd };
  par_for(N, row_grain(d), ln_fwd_rows, &j);
}

/* With xh = (x - mean) rstd and gy = dy g:
**   dx = rstd (gy - mean(gy) - xh mean(gy xh)),  dg = sum_r dy xh,  db = sum_r dy.
** j->t (if set) receives dy xh for dg's column sum. */
static void ln_bwd_rows(void *ctx, long lo, long hi) {
  const LnJob *j = ctx;
  const int d = j->d;
  for (long r = lo; r < hi; r++) {
    const float *xr = j->x + r * d, *dyr = j->dy + r * d;
    const float mu = j->mean[r], rs = j->rstd[r];
    float a = 0, c = 0;
    for (int k = 0; k < d; k++) {
      float xh = (xr[k] - mu) * rs, gy = dyr[k] * j->g[k];
      a += gy; c += gy * xh;
      if (j->t) j->t[r * d + k] = dyr[k] * xh;
    }
    a /= d; c /= d;
    if (!j->dx) continue;
    float *dxr = j->dx + r * d;
    for (int k = 0; k < d; k++) dxr[k] += rs * (dyr[k] * j->g[k] - a - (xr[k] - mu) * rs * c);
  }
}

void tfm_ln_bwd(long N, int d, const float *x, const float *g, const float *mean, const float *rstd,
                const float *dy, float *dx, float *dg, float *db, Arena *a) {
  LnJob j = { .d = d, .x = x, .g = g, .mean = mean, .rstd = rstd, .dy = dy, .dx = dx,
              .t = dg ? arena_floats(a, N * d) : NULL };
  par_for(N, row_grain(d), ln_bwd_rows, &j);
  if (dg) par_colsum(j.t, N, d, dg);
  if (db) par_colsum(dy, N, d, db);
}

/* ---- causal attention ------------------------------------------------------------ */

void tfm_causal_softmax_row(int T, int t, float *row) {
  float m = row[0];
  for (int s = 1; s <= t; s++) m = row[s] > m ? row[s] : m;
  float z = 0;
  for (int s = 0; s <= t; s++) { row[s] = seqk_expf(row[s] - m); z += row[s]; }
  float iz = 1.0f / z;
  for (int s = 0; s <= t; s++) row[s] *= iz;
  for (int s = t + 1; s < T; s++) row[s] = 0;     /* masked */
}

typedef struct AttnJob {
  int T, B, H, dh;
  const float *qkv, *P, *dout;
  float *Pw, *out, *dqkv, *scr;
} AttnJob;

/* Pairs [lo, hi) of (stream b, head h), pair index b*H + h. */
static void attn_fwd_pairs(void *ctx, long lo, long hi) {
  const AttnJob *j = ctx;
  const int T = j->T, B = j->B, dh = j->dh, d = j->H * dh, ld = 3 * B * d;
  const float scale = 1.0f / sqrtf((float)dh);
  for (long bh = lo; bh < hi; bh++) {
    int b = (int)(bh / j->H), h = (int)(bh % j->H);
    const float *q = j->qkv + (size_t)b * 3 * d + (size_t)h * dh, *k = q + d, *v = q + 2 * d;
    float *S = j->Pw + (size_t)bh * T * T;
    par_gemm(0, 1, T, T, dh, scale, q, ld, k, ld, 0.0f, S, T);
    for (int t = 0; t < T; t++) tfm_causal_softmax_row(T, t, S + (size_t)t * T);
    par_gemm(0, 0, T, dh, T, 1.0f, S, T, v, ld, 0.0f, j->out + (size_t)b * d + (size_t)h * dh, B * d);
  }
}

void tfm_attn_fwd(int T, int B, int H, int dh, const float *qkv, float *P, float *out) {
  AttnJob j = { .T = T, .B = B, .H = H, .dh = dh, .qkv = qkv, .Pw = P, .out = out };
  par_for((long)B * H, 1, attn_fwd_pairs, &j);
}

/* dP = dO V^T;  dS = P (dP - rowsum(P dP)) / sqrt(dh);
** dQ = dS K,  dK = dS^T Q,  dV = P^T dO. */
static void attn_bwd_pairs(void *ctx, long lo, long hi) {
  const AttnJob *j = ctx;
  const int T = j->T, B = j->B, dh = j->dh, d = j->H * dh, ld = 3 * B * d;
  const float scale = 1.0f / sqrtf((float)dh);
  for (long bh = lo; bh < hi; bh++) {
    int b = (int)(bh / j->H), h = (int)(bh % j->H);
    size_t qo = (size_t)b * 3 * d + (size_t)h * dh;
    const float *q = j->qkv + qo, *k = q + d, *v = q + 2 * d, *P = j->P + (size_t)bh * T * T;
    const float *dO = j->dout + (size_t)b * d + (size_t)h * dh;
    float *dq = j->dqkv + qo, *dk = dq + d, *dv = dq + 2 * d;
    float *dS = j->scr + (size_t)bh * T * T;
    par_gemm(0, 1, T, T, dh, 1.0f, dO, B * d, v, ld, 0.0f, dS, T);
    for (int t = 0; t < T; t++) {
      const float *pr = P + (size_t)t * T;
      float *sr = dS + (size_t)t * T;
      float c = 0;
      for (int s = 0; s <= t; s++) c += pr[s] * sr[s];
      for (int s = 0; s <= t; s++) sr[s] = pr[s] * (sr[s] - c) * scale;
      for (int s = t + 1; s < T; s++) sr[s] = 0;
    }
    par_gemm(0, 0, T, dh, T, 1.0f, dS, T, k, ld, 0.0f, dq, ld);
    par_gemm(1, 0, T, dh, T, 1.0f, dS, T, q, ld, 0.0f, dk, ld);
    par_gemm(1, 0, T, dh, T, 1.0f, P, T, dO, B * d, 0.0f, dv, ld);
  }
}

void tfm_attn_bwd(int T, int B, int H, int dh, const float *qkv, const float *P,
                  const float *dout, float *dqkv, float *scratch) {
  AttnJob j = { .T = T, .B = B, .H = H, .dh = dh, .qkv = qkv, .P = P, .dout = dout,
                .dqkv = dqkv, .scr = scratch };
  par_for((long)B * H, 1, attn_bwd_pairs, &j);
}

/* ---- decoder layers ----------------------------------------------------------------- */

const char *const tfm_param_name[TFM_NW] = {
  "ln1_g", "ln1_b", "W_qkv", "b_qkv", "W_o", "b_o", "ln2_g", "ln2_b", "W_1", "b_1", "W_2", "b_2" };

void tfm_param_shape(int k, int d, int F, int *rows, int *cols) {
  static const struct { char r, c; } s[TFM_NW] = {   /* 'd' = d, '3' = 3d, 'F' = F, 0 = none */
    {'d', 0}, {'d', 0}, {'3', 'd'}, {'3', 0}, {'d', 'd'}, {'d', 0},
    {'d', 0}, {'d', 0}, {'F', 'd'}, {'F', 0}, {'d', 'F'}, {'d', 0} };
  int v[2];
  for (int i = 0; i < 2; i++) {
    char c = i ? s[k].c : s[k].r;
    v[i] = c == 'd' ? d : c == '3' ? 3 * d : c == 'F' ? F : 0;
  }
  *rows = v[0]; *cols = v[1];
}

static int dropping(const TfmRun *r) { return r->training && r->p > 0.0f; }

/* C [N,M] = A [N,K] W^T + bias, W [M,K]. */
static void linear(long N, int M, int K, const float *A, const float *W, const float *bias, float *C) {
  par_gemm_bias(0, 1, (int)N, M, K, A, K, W, K, bias, C, M);
}

/* Backward of linear from dC: dW += dC^T A, db += colsum dC, and dA = dC W
** (written, if dA is set). */
static void linear_bwd(long N, int M, int K, const float *A, const float *W, const float *dC,
                       float *dW, float *db, float *dA) {
  if (dW) par_gemm(1, 0, M, K, (int)N, 1.0f, dC, M, A, K, 1.0f, dW, K);
  if (db) par_colsum(dC, N, M, db);
  if (dA) par_gemm(0, 0, (int)N, K, M, 1.0f, dC, M, W, K, 0.0f, dA, K);
}

int tfm_seq_fwd(TfmRun *r, Arena *a, Rng *rng, const float *x, float *y) {
  const long N = (long)r->T * r->B, Nd = N * r->d;
  const int d = r->d, F = r->F, L = r->L, dh = d / r->H;
  r->x = x;
  r->xs = arena_floats(a, L * Nd);
  r->x1 = arena_floats(a, L * Nd);
  r->n1 = arena_floats(a, L * Nd);
  r->n2 = arena_floats(a, L * Nd);
  r->st = arena_floats(a, L * 4 * N);
  r->qkv = arena_floats(a, L * 3 * Nd);
  r->P = arena_floats(a, (long)L * r->B * r->H * r->T * r->T);
  r->att = arena_floats(a, L * Nd);
  r->hid = arena_floats(a, L * N * F);
  r->mask = dropping(r) ? arena_floats(a, L * 2 * Nd) : NULL;
  float *tmp = arena_floats(a, Nd);
  for (int l = 0; l < L; l++) {
    const float *const *w = r->layer[l].w;
    const float *in = l ? r->xs + (l - 1) * Nd : x;
    float *x1 = r->x1 + l * Nd, *n1 = r->n1 + l * Nd, *n2 = r->n2 + l * Nd, *st = r->st + l * 4 * N;
    float *qkv = r->qkv + l * 3 * Nd, *att = r->att + l * Nd, *hid = r->hid + l * N * F;
    float *P = r->P + (long)l * r->B * r->H * r->T * r->T, *out = r->xs + l * Nd;
    float *m1 = r->mask ? r->mask + l * 2 * Nd : NULL, *m2 = m1 ? m1 + Nd : NULL;
    if (m1) { seqk_drop_mask(Nd, r->p, rng, m1); seqk_drop_mask(Nd, r->p, rng, m2); }

    tfm_ln_fwd(N, d, in, w[TFM_LN1_G], w[TFM_LN1_B], r->eps, n1, st, st + N);
    linear(N, 3 * d, d, n1, w[TFM_WQKV], w[TFM_BQKV], qkv);
    tfm_attn_fwd(r->T, r->B, r->H, dh, qkv, P, att);
    linear(N, d, d, att, w[TFM_WO], w[TFM_BO], tmp);
    seqk_ew(SEQK_RESID, Nd, in, m1, tmp, x1);

    tfm_ln_fwd(N, d, x1, w[TFM_LN2_G], w[TFM_LN2_B], r->eps, n2, st + 2 * N, st + 3 * N);
    linear(N, F, d, n2, w[TFM_W1], w[TFM_B1], hid);
    seqk_ew(SEQK_RELU, N * F, NULL, NULL, NULL, hid);
    linear(N, d, F, hid, w[TFM_W2], w[TFM_B2], tmp);
    seqk_ew(SEQK_RESID, Nd, x1, m2, tmp, out);
  }
  if (y) memcpy(y, r->xs + (L - 1) * Nd, sizeof(float) * (size_t)Nd);
  return 0;
}

int tfm_seq_bwd(TfmRun *r, Arena *a, const float *dy, float *dx) {
  const long N = (long)r->T * r->B, Nd = N * r->d;
  const int d = r->d, F = r->F, dh = d / r->H;
  float *g = arena_floats(a, Nd);       /* gradient of the current layer's output */
  float *gb = arena_floats(a, Nd);      /* a branch's gradient */
  float *gn = arena_floats(a, Nd);      /* gradient of an LN output / the heads */
  float *gqkv = arena_floats(a, 3 * Nd), *ghid = arena_floats(a, N * F);
  float *scr = arena_floats(a, (long)r->B * r->H * r->T * r->T);
  memcpy(g, dy, sizeof(float) * (size_t)Nd);
  for (int l = r->L - 1; l >= 0; l--) {
    const float *const *w = r->layer[l].w;
    float *const *dw = r->layer[l].dw;
    const float *in = l ? r->xs + (l - 1) * Nd : r->x;
    const float *x1 = r->x1 + l * Nd, *n1 = r->n1 + l * Nd, *n2 = r->n2 + l * Nd, *st = r->st + l * 4 * N;
    const float *qkv = r->qkv + l * 3 * Nd, *att = r->att + l * Nd, *hid = r->hid + l * N * F;
    const float *P = r->P + (long)l * r->B * r->H * r->T * r->T;
    const float *m1 = r->mask ? r->mask + l * 2 * Nd : NULL, *m2 = m1 ? m1 + Nd : NULL;

    /* y = x1 + m2 (W_2 relu(W_1 n2 + b_1) + b_2): g flows on to x1 as is */
    seqk_ew(SEQK_MASK, Nd, g, m2, NULL, gb);
    linear_bwd(N, d, F, hid, w[TFM_W2], gb, dw[TFM_W2], dw[TFM_B2], ghid);
    seqk_ew(SEQK_RELU_BWD, N * F, hid, NULL, NULL, ghid);
    linear_bwd(N, F, d, n2, w[TFM_W1], ghid, dw[TFM_W1], dw[TFM_B1], gn);
    tfm_ln_bwd(N, d, x1, w[TFM_LN2_G], st + 2 * N, st + 3 * N, gn, g, dw[TFM_LN2_G], dw[TFM_LN2_B], a);

    /* x1 = in + m1 (W_o att + b_o) */
    seqk_ew(SEQK_MASK, Nd, g, m1, NULL, gb);
    linear_bwd(N, d, d, att, w[TFM_WO], gb, dw[TFM_WO], dw[TFM_BO], gn);
    tfm_attn_bwd(r->T, r->B, r->H, dh, qkv, P, gn, gqkv, scr);
    linear_bwd(N, 3 * d, d, n1, w[TFM_WQKV], gqkv, dw[TFM_WQKV], dw[TFM_BQKV], gn);
    tfm_ln_bwd(N, d, in, w[TFM_LN1_G], st, st + N, gn, g, dw[TFM_LN1_G], dw[TFM_LN1_B], a);
  }
  if (dx) seqk_ew(SEQK_ADD, Nd, g, NULL, NULL, dx);
  return 0;
}

const float *tfm_attention(const TfmRun *r, int l, int b, int h) {
  return r->P + (((long)l * r->B + b) * r->H + h) * r->T * r->T;
}
