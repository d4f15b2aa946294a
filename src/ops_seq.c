/*
** ops_seq.c — the sequence-model ops EMBED, DROPOUT, LSTM, XENT as rows of
** the op table (conventions in ops_seq.h).  Each is a thin layer over the
** fused kernels: check shapes, find the buffers, call lstm_seq_* / emb_* /
** seqk_drop_mask / xent_*.  Bad data (token ids, lengths) is a located error
** through ex->err, never a crash.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops_seq.h"
#include "lstm.h"
#include "ops_attn.h"
#include "seqk.h"

#define IN(k) (n->in[k])
#define V(k) (n->in[k]->val.data)
#define G(k) (n->in[k]->grad.data)

/* "[2,3]" of input k, for messages. */
static const char *shp(const Node *n, int k, char *buf) { return shape_str(&n->in[k]->val, buf, 64); }

/* Index of the first value in v[0..n) that is not an integer in [lo,hi). */
static long first_bad_id(const float *v, long n, int lo, int hi) {
  for (long k = 0; k < n; k++)
    if (!(v[k] >= (float)lo && v[k] < (float)hi && v[k] == (float)(long)v[k])) return k;
  return -1;
}

/* ---- EMBED ----------------------------------------------------------------- */

int seqop_embed_shape(Node *n, Err *e) {
  const Tensor *E = &IN(0)->val, *ids = &IN(1)->val;
  char a[64], b[64];
  if (E->rank != 2 || E->shape[0] < 1 || E->shape[1] < 1 || ids->rank >= GR_MAXDIM)
    return err_at(e, n->loc, "'embed' needs a table [V,d] and ids of rank below 4, got %s and %s",
                  shp(n, 0, a), shp(n, 1, b));
  int sh[GR_MAXDIM];
  for (int i = 0; i < ids->rank; i++) sh[i] = ids->shape[i];
  sh[ids->rank] = E->shape[1];
  return tensor_shape(&n->val, ids->rank + 1, sh);
}

void seqop_embed_fwd(Node *n, Exec *ex) {
  const Tensor *E = &IN(0)->val, *ids = &IN(1)->val;
  if (seqk_emb_gather(ids->n, E->shape[1], E->shape[0], E->data, ids->data, n->val.data)) {
    long k = first_bad_id(ids->data, ids->n, 0, E->shape[0]);   /* found: same test as seqk_emb_gather */
    if (k < 0) k = 0;
    err_at(ex->err, n->loc, "'embed': token id %g (item %ld of '%s') is not in [0,%d)",
           (double)ids->data[k], k + 1, IN(1)->label, E->shape[0]);
  }
}

void seqop_embed_bwd(Node *n, Exec *ex) {
  if (!G(0)) return;
  const Tensor *E = &IN(0)->val, *ids = &IN(1)->val;
  seqk_emb_scatter(ids->n, E->shape[1], E->shape[0], n->grad.data, ids->data, n->iattr[0], G(0));
}

void seqop_embed_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  snprintf(buf, sz, "rows of %s added at the ids of %s%s", up, n->in[1]->label,
           n->iattr[0] >= 0 ? " (padding row skipped)" : "");
}

/* ---- DROPOUT --------------------------------------------------------------- */

int seqop_dropout_shape(Node *n, Err *e) {
  float p = n->fattr[0];
  if (!(p >= 0.0f && p < 1.0f))
    return err_at(e, n->loc, "'dropout' needs a probability in [0,1), got %g", (double)p);
  return tensor_shape(&n->val, IN(0)->val.rank, IN(0)->val.shape);
}

/* Training with p > 0: y = x * mask, mask kept in aux[0]; else y = x. */
void seqop_dropout_fwd(Node *n, Exec *ex) {
  long N = n->val.n;
  const float *x = V(0);
  float *y = n->val.data, p = n->fattr[0];
  if (!ex->training || p <= 0.0f) { memcpy(y, x, sizeof(float) * (size_t)N); return; }
  float *m = arena_floats(&ex->g->arena, N);
  n->aux[0] = n->val;
  n->aux[0].data = m;
  seqk_drop_mask(N, p, &ex->rng, m);
  seqk_ew(SEQK_MASK, N, x, m, NULL, y);
}

void seqop_dropout_bwd(Node *n, Exec *ex) {
  if (!G(0)) return;
  const float *g = n->grad.data, *m = n->aux[0].data;
  float *d = G(0);
  if (m) seqk_ew(SEQK_RESID, n->val.n, d, m, g, d);     /* d = d + m g */
  else seqk_ew(SEQK_ADD, n->val.n, g, NULL, NULL, d);
}

void seqop_dropout_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  snprintf(buf, sz, "%s * mask (0 or 1/(1-%g))", up, (double)n->fattr[0]);
}

/* ---- LSTM ------------------------------------------------------------------ */

/* n->state of an LSTM node: one heap block (graph_free frees it) holding
** the last forward's run for backward, and the carried state. */
typedef struct LstmOpState {
  int L, B, H;          /* sizes h and c were made for */
  int carry;            /* h, c hold the previous pass's final state */
  int from_init;        /* the last forward started from the init link */
  LstmRun run;          /* the last forward */
  LstmLayer *layer;     /* [L], inside this block */
  float *h, *c;         /* [L,B,H] each, inside this block */
} LstmOpState;


static int lstm_nin(const Node *n) {
  int L = n->iattr[0], f = n->iattr[2];
  return 1 + 3 * L + !!(f & LSTM_LEN) + !!(f & LSTM_INIT);
}
static Node *lstm_init_node(const Node *n) {
  return (n->iattr[2] & LSTM_INIT) ? n->in[n->nin - 1] : NULL;
}
static Node *lstm_len_node(const Node *n) {
  return (n->iattr[2] & LSTM_LEN) ? n->in[1 + 3 * n->iattr[0]] : NULL;
}

/* The state block for sizes L, B, H: kept if it fits, else made afresh
** (carried state dropped).  NULL only if L*B*H is absurd. */
static LstmOpState *lstm_state(Node *n, int L, int B, int H) {
  LstmOpState *st = n->state;
  if (st && st->L == L && st->B == B && st->H == H) return st;
  free(st);
  size_t lbh = (size_t)L * B * H;
  size_t bytes = sizeof *st + sizeof(LstmLayer) * (size_t)L + 2 * lbh * sizeof(float);
  st = n->state = xcalloc(1, bytes);
  st->L = L; st->B = B; st->H = H;
  st->layer = (LstmLayer *)(st + 1);
  st->h = (float *)(st->layer + L);
  st->c = st->h + lbh;
  return st;
}

void seqop_lstm_reset(Node *n) {
  LstmOpState *st = n->op == OP_LSTM ? n->state : NULL;
  if (!st) return;
  st->carry = 0;
  size_t lbh = (size_t)st->L * st->B * st->H;
  memset(st->h, 0, sizeof(float) * lbh);
  memset(st->c, 0, sizeof(float) * lbh);
}

const LstmRun *seqop_lstm_run(const Node *n, int *from_init) {
  const LstmOpState *st = n->op == OP_LSTM ? n->state : NULL;
  if (!st || !st->run.gates) return NULL;
  if (from_init) *from_init = st->from_init;
  return &st->run;
}

void seqop_lstm_carry(Node *n, int on) { if (!on) seqop_lstm_reset(n); }

void seqop_lstm_reorder(Node *n, const int *rows, int B) {
  LstmOpState *st = n->op == OP_LSTM ? n->state : NULL;
  if (!st || !st->carry || st->B != B) return;
  tensor_gather_rows(st->h, st->L, B, st->H, rows);
  tensor_gather_rows(st->c, st->L, B, st->H, rows);
}

int seqop_lstm_shape(Node *n, Err *e) {
  int L = n->iattr[0], H = n->iattr[1], f = n->iattr[2];
  char a[64], b[64];
  if (L < 1 || L > 64 || H < 1 || (f & ~7))
    return err_at(e, n->loc, "'lstm' needs 1 to 64 layers and a hidden size of at least 1, got layers=%d hidden=%d", L, H);
  if (!(n->fattr[0] >= 0.0f && n->fattr[0] < 1.0f))
    return err_at(e, n->loc, "'lstm' needs a dropout probability in [0,1), got %g", (double)n->fattr[0]);
  if (n->nin != lstm_nin(n))
    return err_at(e, n->loc, "'lstm' with %d layers needs %d inputs, got %d", L, lstm_nin(n), n->nin);
  const Tensor *x = &IN(0)->val;
  if (x->rank != 3 || x->shape[0] < 1 || x->shape[1] < 1 || x->shape[2] < 1)
    return err_at(e, n->loc, "'lstm' needs an input sequence [T,B,d] (time-major), got %s", shp(n, 0, a));
  int T = x->shape[0], B = x->shape[1];
  for (int l = 0; l < L; l++) {
    int in = l ? H : x->shape[2];
    int want[3][2] = {{4 * H, in}, {4 * H, H}, {4 * H, 0}};
    static const char *nm[3] = {"W_ih", "W_hh", "b"};
    for (int k = 0; k < 3; k++) {
      const Tensor *w = &IN(1 + 3 * l + k)->val;
      int ok = k < 2 ? (w->rank == 2 && w->shape[0] == want[k][0] && w->shape[1] == want[k][1])
                     : (w->rank == 1 && w->shape[0] == want[k][0]);
      if (!ok) {
        if (k < 2)
          return err_at(e, n->loc, "'lstm' layer %d: %s must be [%d,%d] (4*hidden, %s), got %s", l + 1, nm[k],
                        want[k][0], want[k][1], k ? "hidden" : l ? "hidden" : "input width", shp(n, 1 + 3 * l + k, b));
        return err_at(e, n->loc, "'lstm' layer %d: b must be [%d] (4*hidden), got %s", l + 1, 4 * H,
                      shp(n, 1 + 3 * l + k, b));
      }
    }
  }
  const Node *ln = lstm_len_node(n);
  if (ln && !(ln->val.rank == 1 && ln->val.shape[0] == B))
    return err_at(e, n->loc, "'lstm' lengths must be [%d] (one per batch row), got %s", B,
                  shape_str(&ln->val, a, sizeof a));
  const Node *in0 = lstm_init_node(n);
  if (in0) {
    if (in0->op != OP_LSTM || in0->kind != N_OP)
      return err_at(e, n->loc, "'lstm' can start only from another lstm's final state, '%s' is not an lstm", in0->label);
    if (in0->iattr[0] != L || in0->iattr[1] != H || in0->val.rank != 3 || in0->val.shape[1] != B)
      return err_at(e, n->loc, "'lstm' starting from '%s' needs its layers, hidden size and batch (%d, %d, %d), got (%d, %d, %d)",
                    in0->label, L, H, B, in0->iattr[0], in0->iattr[1], in0->val.rank == 3 ? in0->val.shape[1] : 0);
  }
  int sh[3] = {T, B, H};
  return tensor_shape(&n->val, 3, sh);
}

void seqop_lstm_fwd(Node *n, Exec *ex) {
  const int L = n->iattr[0], H = n->iattr[1], f = n->iattr[2];
  const Tensor *x = &IN(0)->val;
  const int T = x->shape[0], B = x->shape[1];
  const long lbh = (long)L * B * H;
  LstmOpState *st = lstm_state(n, L, B, H);
  for (int l = 0; l < L; l++)
    st->layer[l] = (LstmLayer){V(1 + 3 * l), V(2 + 3 * l), V(3 + 3 * l), NULL, NULL, NULL};

  int *len = NULL;
  const Node *ln = lstm_len_node(n);
  if (ln) {
    long k = first_bad_id(ln->val.data, B, 0, T + 1);
    if (k >= 0) {
      err_at(ex->err, n->loc, "'lstm': length %g (row %ld of '%s') is not an integer in [0,%d]",
             (double)ln->val.data[k], k + 1, ln->label, T);
      return;
    }
    len = arena_alloc(&ex->g->arena, sizeof(int) * (size_t)B);
    for (int b = 0; b < B; b++) len[b] = (int)ln->val.data[b];
  }

  /* Initial state: carried, else the init link's final state, else zeros. */
  const float *h0 = NULL, *c0 = NULL;
  const Node *init = lstm_init_node(n);
  st->from_init = 0;
  if ((f & LSTM_CARRY) && st->carry) { h0 = st->h; c0 = st->c; }
  else if (init && init->aux[0].data) { h0 = init->aux[0].data; c0 = h0 + lbh; st->from_init = 1; }

  int shp4[4] = {2, L, B, H};
  tensor_shape(&n->aux[0], 4, shp4);
  tensor_shape(&n->aux[1], 4, shp4);
  n->aux[0].data = arena_floats(&ex->g->arena, 2 * lbh);
  n->aux[1].data = arena_floats(&ex->g->arena, 2 * lbh);
  memset(n->aux[1].data, 0, sizeof(float) * 2 * (size_t)lbh);

  st->run = (LstmRun){.T = T, .B = B, .D = x->shape[2], .H = H, .L = L, .layer = st->layer,
                      .len = len, .p = n->fattr[0], .training = ex->training};
  lstm_seq_fwd(&st->run, &ex->g->arena, &ex->rng, x->data, h0, c0, n->val.data,
               n->aux[0].data, n->aux[0].data + lbh);
  if (f & LSTM_CARRY) {
    memcpy(st->h, n->aux[0].data, sizeof(float) * (size_t)lbh);
    memcpy(st->c, n->aux[0].data + lbh, sizeof(float) * (size_t)lbh);
    st->carry = 1;
  }
}

/* Backward through time.  dhN, dcN come from aux[1] (a decoder linked to
** this node has added into it); when this pass started from the init link,
** dh0, dc0 go into that node's aux[1].  aux[1] is zeroed once consumed, so
** a repeated backward does not count a decoder's contribution twice. */
void seqop_lstm_bwd(Node *n, Exec *ex) {
  LstmOpState *st = n->state;
  const int L = n->iattr[0];
  if (!st || !n->aux[1].data) return;   /* forward did not run */
  const long lbh = (long)L * st->B * st->H;
  for (int l = 0; l < L; l++) {
    st->layer[l].dW_ih = G(1 + 3 * l);
    st->layer[l].dW_hh = G(2 + 3 * l);
    st->layer[l].db = G(3 + 3 * l);
  }
  float *dh0 = NULL, *dc0 = NULL;
  Node *init = lstm_init_node(n);
  if (st->from_init && init && init->aux[1].data) { dh0 = init->aux[1].data; dc0 = dh0 + lbh; }
  float *ds = n->aux[1].data;
  st->run.hook = ex->bptt;
  st->run.hook.tag = n;
  lstm_seq_bwd(&st->run, &ex->g->arena, n->grad.data, ds, ds + lbh, G(0), dh0, dc0);
  memset(ds, 0, sizeof(float) * 2 * (size_t)lbh);
}

void seqop_lstm_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  snprintf(buf, sz, "backprop of %s through %d time steps of the LSTM", up, n->val.shape[0]);
}

/* ---- XENT ------------------------------------------------------------------ */

/* The stat the trainer reads, and what a fused forward leaves its backward. */
typedef struct XentState { XentStat stat; XentMM mm; } XentState;

const XentStat *seqop_xent_stat(const Node *n) { return n->op == OP_XENT && n->state ? &((XentState *)n->state)->stat : NULL; }

int seqop_xent_shape(Node *n, Err *e) {
  const Tensor *x = &IN(0)->val, *t = &IN(1)->val;
  char a[64], b[64];
  int ok = x->rank >= 1 && x->shape[x->rank - 1] >= 1 && t->rank == x->rank - 1;
  for (int i = 0; ok && i < t->rank; i++) ok = t->shape[i] == x->shape[i];
  if (!ok)
    return err_at(e, n->loc, "'xent' needs logits [..., V] and targets [...] with the same leading axes, got %s and %s",
                  shp(n, 0, a), shp(n, 1, b));
  return tensor_shape(&n->val, 0, NULL);
}

/* The located message for the first target that is neither a class nor
** the ignore id. */
static void xent_bad_target(Node *n, Exec *ex, int V) {
  const Tensor *t = &IN(1)->val;
  long k = 0;
  for (; k < t->n; k++) {
    float v = t->data[k];
    if (!(n->iattr[0] >= 0 && v == (float)n->iattr[0]) && first_bad_id(&v, 1, 0, V) == 0) break;
  }
  if (k == t->n) k = 0;                /* not reached: the callers found one */
  err_at(ex->err, n->loc, "'xent': target %g (item %ld of '%s') is not a class in [0,%d)",
         (double)t->data[k], k + 1, IN(1)->label, V);
}

/* The product the loss computes itself (NF_LAZY, ops_fuse), or NULL. */
static Node *xent_product(const Node *n, const Exec *ex) {
  return graph_skips(IN(0), ex) ? IN(0) : NULL;
}

/* Fused forward: the counted rows' targets, then seqk_xentmm_fwd on them.
** Scratch from the arena lives until the next forward, past the backward. */
static void xent_fused_fwd(Node *n, Exec *ex, Node *p, XentState *st) {
  const Tensor *a = &p->in[0]->val, *w = &p->in[1]->val, *t = &IN(1)->val;
  XentMM *m = &st->mm;
  Arena *ar = &ex->g->arena;
  memset(m, 0, sizeof *m);
  m->tw = p->iattr[0];
  m->K = w->shape[m->tw]; m->V = w->shape[1 - m->tw];
  m->N = t->n;
  m->A = a->data; m->W = w->data; m->b = p->nin == 3 ? p->in[2]->val.data : NULL;
  int *id = arena_alloc(ar, sizeof(int) * (size_t)(m->N ? m->N : 1));
  int *rows = arena_alloc(ar, sizeof(int) * (size_t)(m->N ? m->N : 1));
  for (long r = 0; r < m->N; r++) {
    float v = t->data[r];
    if (n->iattr[0] >= 0 && v == (float)n->iattr[0]) continue;
    if (first_bad_id(&v, 1, 0, m->V) == 0) { xent_bad_target(n, ex, m->V); return; }
    id[m->n] = (int)v;
    rows[m->n++] = (int)r;
  }
  m->id = id;
  m->rows = m->n < m->N ? rows : NULL;
  m->Ac = m->rows ? arena_floats(ar, m->n * m->K) : NULL;
  m->L = arena_floats(ar, m->n * m->V);
  m->lse = arena_floats(ar, m->n);
  st->stat.sum = seqk_xentmm_fwd(m);
  st->stat.count = m->n;
  if (!m->rows) p->val.data = m->L;   /* all of them: readable until the backward */
}

/* Mean of -log softmax(logits)[target] over the counted rows (0 if none);
** sum and count into the node's XentStat; row log-sum-exps into aux[0]. */
void seqop_xent_fwd(Node *n, Exec *ex) {
  const Tensor *x = &IN(0)->val, *t = &IN(1)->val;
  int V = x->shape[x->rank - 1];
  long N = t->n;
  XentState *st = n->state;
  if (!st) st = n->state = xcalloc(1, sizeof *st);
  Node *p = xent_product(n, ex);
  if (p) xent_fused_fwd(n, ex, p, st);
  else {
    n->aux[0].data = arena_floats(&ex->g->arena, N);
    tensor_shape(&n->aux[0], t->rank, t->shape);
    if (seqk_xent_fwd(N, V, x->data, t->data, n->iattr[0], n->aux[0].data, &st->stat.sum, &st->stat.count))
      xent_bad_target(n, ex, V);
  }
  n->val.data[0] = st->stat.count ? (float)(st->stat.sum / (double)st->stat.count) : 0.0f;
}

void seqop_xent_bwd(Node *n, Exec *ex) {
  XentState *st = n->state;
  if (!st || !st->stat.count) return;
  float scale = n->grad.data[0] / (float)st->stat.count;
  Node *p = xent_product(n, ex);
  if (p) {
    float *dA = p->in[0]->grad.data, *scratch = NULL;
    if (dA && st->mm.rows) scratch = arena_floats(&ex->g->arena, st->mm.n * st->mm.K);
    p->val.data = NULL;                          /* L becomes the gradient */
    seqk_xentmm_bwd(&st->mm, scale, dA, p->in[1]->grad.data, p->nin == 3 ? p->in[2]->grad.data : NULL, scratch);
    return;
  }
  if (!G(0)) return;
  const Tensor *x = &IN(0)->val, *t = &IN(1)->val;
  seqk_xent_bwd(t->n, x->shape[x->rank - 1], x->data, t->data, n->iattr[0], n->aux[0].data, scale, G(0));
}

void seqop_xent_rule(const Node *n, int i, const char *up, int numeric, char *buf, size_t sz) {
  snprintf(buf, sz, "%s * (softmax(%s) - onehot(%s)) / count", up, n->in[0]->label, n->in[1]->label);
}

/* ---- the rows ---------------------------------------------------------------- */


/* The encoder side of the link an attention decoder makes (ops_attn.h). */
int seqop_lstm_final(Node *enc, int *L, int *H, const float **hN, const float **cN, float **dhN, float **dcN) {
  if (!enc || enc->op != OP_LSTM) return 0;
  long lbh = enc->aux[0].data ? enc->aux[0].n / 2 : 0;
  if (L) *L = enc->iattr[0];
  if (H) *H = enc->iattr[1];
  if (hN) *hN = enc->aux[0].data;
  if (cN) *cN = enc->aux[0].data ? enc->aux[0].data + lbh : NULL;
  if (dhN) *dhN = enc->aux[1].data;
  if (dcN) *dcN = enc->aux[1].data ? enc->aux[1].data + lbh : NULL;
  return 1;
}
