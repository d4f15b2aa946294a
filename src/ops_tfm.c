/*
** ops_tfm.c — the Transformer primitives LAYER_NORM, CAUSAL_SOFTMAX,
** SCORES, ATTEND and POSITIONS as rows of the op table (conventions in
** ops_tfm.h).  Layer norm and the causal softmax rows are tfm.c's kernels;
** the products are one gemm per stream (and head), split over the pool.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops_tfm.h"
#include "tfm.h"
#include "par.h"

#define IN(k) (n->in[k])
#define V(k) (n->in[k]->val.data)
#define G(k) (n->in[k]->grad.data)

static int bad_shapes(Node *n, Err *e, const char *want) {
  char a[64], b[64], c[64];
  if (n->nin == 3)
    return err_at(e, n->loc, "'%s' needs %s, got %s, %s and %s", ops_word(n->op), want,
                  shape_str(&IN(0)->val, a, 64), shape_str(&IN(1)->val, b, 64), shape_str(&IN(2)->val, c, 64));
  if (n->nin == 2)
    return err_at(e, n->loc, "'%s' needs %s, got %s and %s", ops_word(n->op), want,
                  shape_str(&IN(0)->val, a, 64), shape_str(&IN(1)->val, b, 64));
  return err_at(e, n->loc, "'%s' needs %s, got %s", ops_word(n->op), want, shape_str(&IN(0)->val, a, 64));
}

/* ---- LAYER_NORM ----------------------------------------------------------------- */

#define LN_EPS 1e-5f

int tfmop_ln_shape(Node *n, Err *e) {
  const Tensor *x = &IN(0)->val, *g = &IN(1)->val, *b = &IN(2)->val;
  if (x->rank < 1 || g->rank != 1 || b->rank != 1 || g->n != x->shape[x->rank - 1] || b->n != g->n)
    return bad_shapes(n, e, "x [..., d], a gain [d] and a bias [d]");
  return tensor_shape(&n->val, x->rank, x->shape);
}

static int ln_width(const Node *n) { return IN(0)->val.shape[IN(0)->val.rank - 1]; }

void tfmop_ln_fwd(Node *n, Exec *ex) {
  int d = ln_width(n);
  long N = d ? n->val.n / d : 0;
  n->aux[0].data = arena_floats(&ex->g->arena, N);
  n->aux[1].data = arena_floats(&ex->g->arena, N);
  tfm_ln_fwd(N, d, V(0), V(1), V(2), LN_EPS, n->val.data, n->aux[0].data, n->aux[1].data);
}

void tfmop_ln_bwd(Node *n, Exec *ex) {
  int d = ln_width(n);
  long N = d ? n->val.n / d : 0;
  tfm_ln_bwd(N, d, V(0), V(1), n->aux[0].data, n->aux[1].data, n->grad.data, G(0), G(1), G(2), &ex->g->arena);
}

void tfmop_ln_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  const char *x = n->in[0]->label, *g = n->in[1]->label;
  if (i == 0) snprintf(buf, sz, "(%s * %s - mean(%s * %s) - x̂ mean(%s * %s * x̂)) / std(%s), x̂ = normalized %s",
                       up, g, up, g, up, g, x, x);
  else if (i == 1) snprintf(buf, sz, "sum over rows of %s * x̂ (x̂ = normalized %s)", up, x);
  else snprintf(buf, sz, "sum over rows of %s", up);
}

/* ---- CAUSAL_SOFTMAX ---------------------------------------------------------------- */

int tfmop_csm_shape(Node *n, Err *e) {
  const Tensor *x = &IN(0)->val;
  if (x->rank < 2 || x->shape[x->rank - 1] != x->shape[x->rank - 2])
    return bad_shapes(n, e, "square score matrices [..., T, T]");
  return tensor_shape(&n->val, x->rank, x->shape);
}

static int csm_T(const Node *n) { return n->val.shape[n->val.rank - 1]; }

typedef struct RowJob { const Node *n; int T; } RowJob;

static void csm_fwd_rows(void *ctx, long lo, long hi) {
  const RowJob *j = ctx;
  const float *x = j->n->in[0]->val.data;
  float *y = j->n->val.data;
  for (long r = lo; r < hi; r++) {
    memcpy(y + r * j->T, x + r * j->T, sizeof(float) * (size_t)j->T);
    tfm_causal_softmax_row(j->T, (int)(r % j->T), y + r * j->T);
  }
}
static void csm_bwd_rows(void *ctx, long lo, long hi) {
  const RowJob *j = ctx;
  const float *y = j->n->val.data, *g = j->n->grad.data;
  float *dx = j->n->in[0]->grad.data;
  for (long r = lo; r < hi; r++) {
    const float *yr = y + r * j->T, *gr = g + r * j->T;
    float s = 0;
    for (int k = 0; k < j->T; k++) s += yr[k] * gr[k];
    for (int k = 0; k < j->T; k++) dx[r * j->T + k] += yr[k] * (gr[k] - s);
  }
}

void tfmop_csm_fwd(Node *n, Exec *ex) {
  RowJob j = { n, csm_T(n) };
  if (j.T) par_for(n->val.n / j.T, 64, csm_fwd_rows, &j);
}
void tfmop_csm_bwd(Node *n, Exec *ex) {
  RowJob j = { n, csm_T(n) };
  if (G(0) && j.T) par_for(n->val.n / j.T, 64, csm_bwd_rows, &j);
}

void tfmop_csm_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  snprintf(buf, sz, "%s * (%s - sum(%s * %s)) (masked entries: 0)", n->label, up, up, n->label);
}

/* ---- SCORES and ATTEND ---------------------------------------------------------------- */

/* Both ops see a sequence operand [T, R..., e] as T rows of R blocks of e. */
typedef struct Seq { int T, R, e; } Seq;

static Seq seq_of(const Tensor *t) {
  Seq s = { t->shape[0], 1, t->shape[t->rank - 1] };
  for (int i = 1; i < t->rank - 1; i++) s.R *= t->shape[i];
  return s;
}

/* [R..., T, T] for the sequence shape t. */
static int square_shape(const Tensor *t, int *sh) {
  int r = 0;
  for (int i = 1; i < t->rank - 1; i++) sh[r++] = t->shape[i];
  sh[r++] = t->shape[0];
  sh[r++] = t->shape[0];
  return r;
}

int tfmop_scores_shape(Node *n, Err *e) {
  const Tensor *q = &IN(0)->val, *k = &IN(1)->val;
  if (q->rank < 2 || !tensor_same_shape(q, k))
    return bad_shapes(n, e, "q and k of one shape [T, ..., e]");
  int sh[GR_MAXDIM], r = square_shape(q, sh);
  return tensor_shape(&n->val, r, sh);
}

int tfmop_attend_shape(Node *n, Err *e) {
  const Tensor *P = &IN(0)->val, *v = &IN(1)->val;
  int sh[GR_MAXDIM], r = v->rank >= 2 ? square_shape(v, sh) : 0;
  int ok = v->rank >= 2 && P->rank == r;
  for (int i = 0; ok && i < r; i++) ok = P->shape[i] == sh[i];
  if (!ok) return bad_shapes(n, e, "weights [..., T, T] and values [T, ..., e] (the same streams and T)");
  return tensor_shape(&n->val, v->rank, v->shape);
}

/* One product job per block r: which op, and which direction. */
typedef struct PairJob { const Node *n; Seq s; int back; } PairJob;

static void scores_blocks(void *ctx, long lo, long hi) {
  const PairJob *j = ctx;
  const Node *n = j->n;
  const int T = j->s.T, e = j->s.e, ld = j->s.R * e;
  for (long r = lo; r < hi; r++) {
    const float *q = V(0) + r * e, *k = V(1) + r * e;
    float *S = n->val.data + r * T * T, *dS = n->grad.data ? n->grad.data + r * T * T : NULL;
    if (!j->back) { par_gemm(0, 1, T, T, e, 1.0f, q, ld, k, ld, 0.0f, S, T); continue; }
    if (G(0)) par_gemm(0, 0, T, e, T, 1.0f, dS, T, k, ld, 1.0f, G(0) + r * e, ld);
    if (G(1)) par_gemm(1, 0, T, e, T, 1.0f, dS, T, q, ld, 1.0f, G(1) + r * e, ld);
  }
}

static void attend_blocks(void *ctx, long lo, long hi) {
  const PairJob *j = ctx;
  const Node *n = j->n;
  const int T = j->s.T, e = j->s.e, ld = j->s.R * e;
  for (long r = lo; r < hi; r++) {
    const float *P = V(0) + r * T * T, *v = V(1) + r * e;
    if (!j->back) { par_gemm(0, 0, T, e, T, 1.0f, P, T, v, ld, 0.0f, n->val.data + r * e, ld); continue; }
    const float *g = n->grad.data + r * e;
    if (G(0)) par_gemm(0, 1, T, T, e, 1.0f, g, ld, v, ld, 1.0f, G(0) + r * T * T, T);
    if (G(1)) par_gemm(1, 0, T, e, T, 1.0f, P, T, g, ld, 1.0f, G(1) + r * e, ld);
  }
}

static void run_blocks(Node *n, int seq_in, int back, ParFn fn) {
  PairJob j = { n, seq_of(&IN(seq_in)->val), back };
  par_for(j.s.R, 1, fn, &j);
}

void tfmop_scores_fwd(Node *n, Exec *ex) { run_blocks(n, 0, 0, scores_blocks); }
void tfmop_scores_bwd(Node *n, Exec *ex) { run_blocks(n, 0, 1, scores_blocks); }
void tfmop_attend_fwd(Node *n, Exec *ex) { run_blocks(n, 1, 0, attend_blocks); }
void tfmop_attend_bwd(Node *n, Exec *ex) { run_blocks(n, 1, 1, attend_blocks); }

void tfmop_scores_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  if (i == 0) snprintf(buf, sz, "%s @ %s (per stream)", up, n->in[1]->label);
  else snprintf(buf, sz, "transpose(%s) @ %s (per stream)", up, n->in[0]->label);
}
void tfmop_attend_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  if (i == 0) snprintf(buf, sz, "%s @ transpose(%s) (per stream)", up, n->in[1]->label);
  else snprintf(buf, sz, "transpose(%s) @ %s (per stream)", n->in[0]->label, up);
}

/* ---- POSITIONS ------------------------------------------------------------------------------ */

int tfmop_pos_shape(Node *n, Err *e) {
  const Tensor *P = &IN(0)->val, *x = &IN(1)->val;
  if (P->rank != 2 || x->rank < 1 || x->rank >= GR_MAXDIM)
    return bad_shapes(n, e, "a table [Tmax, d] and steps [T, ...] of rank below 4");
  if (x->shape[0] > P->shape[0]) {
    char a[64];
    return err_at(e, n->loc, "'positions': %d steps but the table %s has rows for %d (make it longer)",
                  x->shape[0], shape_str(P, a, sizeof a), P->shape[0]);
  }
  int sh[GR_MAXDIM];
  for (int i = 0; i < x->rank; i++) sh[i] = x->shape[i];
  sh[x->rank] = P->shape[1];
  return tensor_shape(&n->val, x->rank + 1, sh);
}

/* out viewed as [T, inner, d]. */
void tfmop_pos_fwd(Node *n, Exec *ex) {
  const int T = IN(1)->val.shape[0], d = IN(0)->val.shape[1];
  const long inner = T ? IN(1)->val.n / T : 0;
  for (int t = 0; t < T; t++)
    for (long i = 0; i < inner; i++)
      memcpy(n->val.data + ((long)t * inner + i) * d, V(0) + (long)t * d, sizeof(float) * (size_t)d);
}

void tfmop_pos_bwd(Node *n, Exec *ex) {
  if (!G(0)) return;
  const int T = IN(1)->val.shape[0], d = IN(0)->val.shape[1];
  const long inner = T ? IN(1)->val.n / T : 0;
  for (int t = 0; t < T; t++)
    for (long i = 0; i < inner; i++) {
      const float *g = n->grad.data + ((long)t * inner + i) * d;
      for (int k = 0; k < d; k++) G(0)[(long)t * d + k] += g[k];
    }
}

void tfmop_pos_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  snprintf(buf, sz, "row t: sum of %s over the streams at step t", up);
}

/* ---- TRANSFORMER (fused) ---------------------------------------------------------------------- */

typedef struct TfmOpState {
  int L;
  int ran;              /* a forward ran since the last graph change */
  TfmRun run;
  TfmLayer layer[];     /* [L] */
} TfmOpState;

static TfmOpState *block_state(Node *n, int L) {
  TfmOpState *st = n->state;
  if (st && st->L == L) return st;
  free(st);
  st = n->state = xcalloc(1, sizeof *st + sizeof(TfmLayer) * (size_t)L);
  st->L = L;
  return st;
}

int tfmop_block_shape(Node *n, Err *e) {
  const int L = n->iattr[0], H = n->iattr[1];
  const Tensor *x = &IN(0)->val;
  char a[64], b[64];
  if (L < 1 || n->nin != 1 + TFM_NW * L)
    return err_at(e, n->loc, "'transformer' with %d layers needs %d inputs, got %d", L, 1 + TFM_NW * L, n->nin);
  if (x->rank != 3) return err_at(e, n->loc, "'transformer' needs a sequence [T, B, d], got %s", shape_str(x, a, 64));
  const int d = x->shape[2], F = IN(1 + TFM_W1)->val.shape[0];
  if (H < 1 || d % H)
    return err_at(e, n->loc, "'transformer': width %d does not split into %d heads", d, H);
  for (int l = 0; l < L; l++)
    for (int k = 0; k < TFM_NW; k++) {
      int r, c, sh[2];
      tfm_param_shape(k, d, F, &r, &c);
      sh[0] = r; sh[1] = c;
      Tensor want; tensor_shape(&want, c ? 2 : 1, sh);
      const Node *p = IN(1 + TFM_NW * l + k);
      if (!tensor_same_shape(&p->val, &want))
        return err_at(e, n->loc, "'transformer' layer %d: %s ('%s') must be %s, got %s", l + 1, tfm_param_name[k],
                      p->label, shape_str(&want, a, 64), shape_str(&p->val, b, 64));
    }
  return tensor_shape(&n->val, 3, x->shape);
}

void tfmop_block_fwd(Node *n, Exec *ex) {
  const int L = n->iattr[0];
  const Tensor *x = &IN(0)->val;
  TfmOpState *st = block_state(n, L);
  for (int l = 0; l < L; l++)
    for (int k = 0; k < TFM_NW; k++) { st->layer[l].w[k] = V(1 + TFM_NW * l + k); st->layer[l].dw[k] = NULL; }
  st->run = (TfmRun){ .T = x->shape[0], .B = x->shape[1], .d = x->shape[2], .H = n->iattr[1],
                      .F = IN(1 + TFM_W1)->val.shape[0], .L = L, .layer = st->layer, .p = n->fattr[0],
                      .eps = LN_EPS, .training = ex->training };
  tfm_seq_fwd(&st->run, &ex->g->arena, &ex->rng, x->data, n->val.data);
  st->ran = 1;
}

void tfmop_block_bwd(Node *n, Exec *ex) {
  TfmOpState *st = n->state;
  if (!st || !st->ran) return;
  for (int l = 0; l < st->L; l++)
    for (int k = 0; k < TFM_NW; k++) st->layer[l].dw[k] = G(1 + TFM_NW * l + k);
  tfm_seq_bwd(&st->run, &ex->g->arena, n->grad.data, G(0));
}

void tfmop_block_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  if (i == 0) snprintf(buf, sz, "%s back through %d pre-LN layers (attention, FFN, residuals)", up, n->iattr[0]);
  else snprintf(buf, sz, "%s, layer %d's %s (fused backward)", up, (i - 1) / TFM_NW + 1, tfm_param_name[(i - 1) % TFM_NW]);
}

unsigned long tfmop_relu_hash(const Node *n, unsigned long h) {
  const TfmOpState *st = n->op == OP_TRANSFORMER ? n->state : NULL;
  if (!st || !st->ran) return h;
  long k = (long)st->L * st->run.T * st->run.B * st->run.F;
  for (long j = 0; j < k; j++) h = (h ^ (st->run.hid[j] > 0)) * 1099511628211ul;
  return h;
}

const float *tfmop_attention(const Node *n, int l, int b, int h, int *T) {
  const TfmOpState *st = n->op == OP_TRANSFORMER ? n->state : NULL;
  if (!st || !st->ran || l < 0 || l >= st->L || b < 0 || b >= st->run.B || h < 0 || h >= st->run.H) return NULL;
  *T = st->run.T;
  return tfm_attention(&st->run, l, b, h);
}
