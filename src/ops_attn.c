/*
** ops_attn.c — the ATTN_DEC op: attn.c's fused input-feeding decoder as one
** graph node (inputs and attributes in ops_attn.h).
**
** The node keeps one heap block as its state (n->state), grown only when a
** batch needs more, so a training loop does no malloc in steady state:
**
**   [ DecState | len [B] | h0,c0 [L,B,H] feed0 [B,H] | hN,cN [L,B,H]
**     feedN [B,H] | cells [L] | dropout mask [L-1,T,B,H] | workspace ]
**
** The prefix up to feedN depends on B, L, H only, so carried state survives
** a realloc for a longer batch.  Pointers into the block (in d) live only
** from a forward to its backward, and the block moves only at the start of
** a forward; so one free(n->state) frees everything.
*/
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ops_attn.h"
#include "ops_seq.h"
#include "attn.h"
#include "seqk.h"

typedef struct DecState {
  size_t bytes;        /* size of the whole block */
  int carry;           /* attn_dec_carry(): start from the last final state */
  int valid;           /* a forward ran: sizes, d and the final state are good */
  int fresh;           /* the last forward started from the encoder's state */
  int T, B, S, E, H, L;
  AttnDec d;           /* the last forward's call, reused by backward */
} DecState;

/* Pointers into a block for the given sizes (see the file comment). */
typedef struct Parts {
  int *len;
  float *h0, *c0, *feed0, *hN, *cN, *feedN, *mask;
  AttnCell *cells;
  void *ws;
} Parts;

static size_t up64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Lays the parts out after the header; returns the bytes needed (0 when the
** sizes are invalid).  base NULL: measure only. */
static size_t parts(char *base, int T, int B, int S, int E, int H, int L, Parts *p) {
  AttnDec d = {.T = T, .B = B, .S = S, .E = E, .H = H, .L = L};
  size_t ws = attn_decoder_ws_bytes(&d);
  if (!ws) return 0;
  size_t BH = (size_t)B * H, LBH = (size_t)L * BH, off = up64(sizeof(DecState));
  size_t at[9], sz[9] = {sizeof(int) * B, 4 * LBH, 4 * LBH, 4 * BH, 4 * LBH, 4 * LBH, 4 * BH,
                         sizeof(AttnCell) * L, 4 * (size_t)(L - 1) * T * BH};
  for (int i = 0; i < 9; i++) { at[i] = off; off += up64(sz[i]); }
  if (base) {
    p->len = (int *)(base + at[0]);
    p->h0 = (float *)(base + at[1]); p->c0 = (float *)(base + at[2]);
    p->feed0 = (float *)(base + at[3]);
    p->hN = (float *)(base + at[4]); p->cN = (float *)(base + at[5]);
    p->feedN = (float *)(base + at[6]);
    p->cells = (AttnCell *)(base + at[7]);
    p->mask = (float *)(base + at[8]);
    p->ws = (void *)up64((uintptr_t)(base + off));
  }
  return off + 64 + ws;            /* 64: room to align the workspace */
}

/* ---- shape ---------------------------------------------------------------- */

/* Checks one parameter's shape; 0 or -1 with a located message. */
static int want2(Node *n, Err *e, int i, const char *what, int r, int c) {
  const Tensor *t = &n->in[i]->val;
  if (t->rank == 2 && t->shape[0] == r && t->shape[1] == c) return 0;
  char buf[64];
  return err_at(e, n->loc, "attn: %s must be [%d,%d], got %s", what, r, c,
                shape_str(t, buf, sizeof buf));
}

/* Contract in graph.h (OpDef.shape). */
int attn_dec_shape(Node *n, Err *e) {
  int L = n->iattr[0];
  float p = n->fattr[0];
  if (L < 1 || L > 64) return err_at(e, n->loc, "attn: layers must be 1..64, got %d", L);
  if (!(p >= 0 && p < 1)) return err_at(e, n->loc, "attn: dropout must be in [0,1), got %g", p);
  if (n->nin != 6 + 3 * L)
    return err_at(e, n->loc, "attn: %d layers need %d inputs, got %d", L, 6 + 3 * L, n->nin);
  const Tensor *x = &n->in[0]->val, *m = &n->in[1]->val, *len = &n->in[2]->val;
  char b1[64], b2[64];
  if (x->rank != 3) return err_at(e, n->loc, "attn: embeddings must be [T,B,E], got %s",
                                  shape_str(x, b1, sizeof b1));
  int T = x->shape[0], B = x->shape[1], E = x->shape[2];
  if (m->rank != 3 || m->shape[1] != B)
    return err_at(e, n->loc, "attn: memory must be [S,%d,H] (time-major, batch %d), got %s",
                  B, B, shape_str(m, b1, sizeof b1));
  int S = m->shape[0], H = m->shape[2];
  if (len->rank != 1 || len->shape[0] != B)
    return err_at(e, n->loc, "attn: source lengths must be [%d], got %s", B,
                  shape_str(len, b1, sizeof b1));
  int eL, eH;
  if (!seqop_lstm_final(n->in[3], &eL, &eH, NULL, NULL, NULL, NULL))
    return err_at(e, n->loc, "attn: input 4 must be the encoder's lstm node");
  if (eL != L || eH != H)
    return err_at(e, n->loc, "attn: decoder is %d layers of %d, encoder %d layers of %d",
                  L, H, eL, eH);
  for (int l = 0; l < L; l++) {
    char w[32];
    snprintf(w, sizeof w, "W_ih of layer %d", l + 1);
    if (want2(n, e, 4 + 3 * l, w, 4 * H, l ? H : E + H)) return -1;
    snprintf(w, sizeof w, "W_hh of layer %d", l + 1);
    if (want2(n, e, 5 + 3 * l, w, 4 * H, H)) return -1;
    const Tensor *b = &n->in[6 + 3 * l]->val;
    if (b->rank != 1 || b->shape[0] != 4 * H)
      return err_at(e, n->loc, "attn: bias of layer %d must be [%d], got %s", l + 1, 4 * H,
                    shape_str(b, b2, sizeof b2));
  }
  if (want2(n, e, 4 + 3 * L, "W_in", H, H) || want2(n, e, 5 + 3 * L, "W_c", H, 2 * H)) return -1;
  if (!parts(NULL, T, B, S, E, H, L, NULL))
    return err_at(e, n->loc, "attn: sizes T=%d B=%d S=%d E=%d H=%d too large or empty",
                  T, B, S, E, H);
  int shape[3] = {T, B, H};
  if (tensor_shape(&n->val, 3, shape))
    return err_at(e, n->loc, "attn: output [%d,%d,%d] is too large", T, B, H);
  return 0;
}

/* ---- forward / backward ---------------------------------------------------- */

/* n's state block, grown to hold these sizes (never shrunk).  A grow keeps
** the carried prefix only when B, L, H are unchanged. */
static DecState *state_for(Node *n, int T, int B, int S, int E, int H, int L, Parts *p) {
  DecState *st = n->state;
  size_t need = parts(NULL, T, B, S, E, H, L, NULL);
  if (!st || st->bytes < need) {
    size_t bytes = st && st->bytes + st->bytes / 2 > need ? st->bytes + st->bytes / 2 : need;
    int had = st != NULL;
    st = xrealloc(st, bytes);
    if (!had) memset(st, 0, sizeof *st);
    st->bytes = bytes;
    n->state = st;
  }
  if (st->valid && (st->B != B || st->L != L || st->H != H)) st->valid = 0;
  parts((char *)st, T, B, S, E, H, L, p);
  return st;
}

/* Contract in graph.h (OpDef.forward). */
void attn_dec_fwd(Node *n, Exec *ex) {
  const Tensor *x = &n->in[0]->val, *m = &n->in[1]->val;
  int T = x->shape[0], B = x->shape[1], E = x->shape[2], S = m->shape[0], H = m->shape[2];
  int L = n->iattr[0];
  Parts p;
  DecState *st = state_for(n, T, B, S, E, H, L, &p);

  const float *lf = n->in[2]->val.data;
  for (int b = 0; b < B; b++) {
    float v = lf[b];
    int k = v >= 1 && v <= S ? (int)v : v > S ? S : 1;
    if ((float)k != v && ex->err)
      err_at(ex->err, n->loc, "attn: source length %g of row %d is not an integer in 1..%d",
             v, b + 1, S);
    p.len[b] = k;
  }
  int carried = st->carry && st->valid;
  if (carried) {
    size_t LBH = (size_t)L * B * H;
    memcpy(p.h0, p.hN, sizeof(float) * LBH);
    memcpy(p.c0, p.cN, sizeof(float) * LBH);
    memcpy(p.feed0, p.feedN, sizeof(float) * (size_t)B * H);
  } else {
    const float *eh, *ec;
    seqop_lstm_final(n->in[3], NULL, NULL, &eh, &ec, NULL, NULL);
    size_t LBH = (size_t)L * B * H;
    if (eh) memcpy(p.h0, eh, sizeof(float) * LBH); else memset(p.h0, 0, sizeof(float) * LBH);
    if (ec) memcpy(p.c0, ec, sizeof(float) * LBH); else memset(p.c0, 0, sizeof(float) * LBH);
    memset(p.feed0, 0, sizeof(float) * (size_t)B * H);
  }
  for (int l = 0; l < L; l++) {
    Node **w = n->in + 4 + 3 * l;
    p.cells[l] = (AttnCell){w[0]->val.data, w[1]->val.data, w[2]->val.data,
                            w[0]->grad.data, w[1]->grad.data, w[2]->grad.data};
  }
  float pd = n->fattr[0];
  int drop = ex->training && pd > 0 && L > 1;
  if (drop) seqk_drop_mask((long)(L - 1) * T * B * H, pd, &ex->rng, p.mask);

  st->d = (AttnDec){.T = T, .B = B, .S = S, .E = E, .H = H, .L = L,
                    .e = x->data, .mem = m->data, .len = p.len,
                    .h0 = p.h0, .c0 = p.c0, .feed0 = p.feed0, .drop = drop ? p.mask : NULL,
                    .out = n->val.data, .hN = p.hN, .cN = p.cN, .feedN = p.feedN};
  AttnParams ap = {p.cells, n->in[4 + 3 * L]->val.data, n->in[5 + 3 * L]->val.data, NULL, NULL};
  attn_decoder_fwd(&st->d, &ap, p.ws);
  st->T = T; st->B = B; st->S = S; st->E = E; st->H = H; st->L = L;
  st->valid = 1;
  st->fresh = !carried;
}

/* Contract in graph.h (OpDef.backward). */
void attn_dec_bwd(Node *n, Exec *ex) {
  DecState *st = n->state;
  if (!st || !st->valid || !n->grad.data) return;
  int L = st->L;
  Parts p;
  parts((char *)st, st->T, st->B, st->S, st->E, st->H, L, &p);
  AttnDec d = st->d;
  d.dout = n->grad.data;
  d.hook = ex->bptt;
  d.hook.tag = n;
  d.de = n->in[0]->grad.data;
  d.dmem = n->in[1]->grad.data;
  if (st->fresh) {
    float *dh, *dc;
    seqop_lstm_final(n->in[3], NULL, NULL, NULL, NULL, &dh, &dc);
    d.dh0 = dh; d.dc0 = dc;
  }
  for (int l = 0; l < L; l++) {        /* gradient buffers as they are now, not at forward */
    Node **w = n->in + 4 + 3 * l;
    p.cells[l].dW_ih = w[0]->grad.data; p.cells[l].dW_hh = w[1]->grad.data; p.cells[l].db = w[2]->grad.data;
  }
  Node *wi = n->in[4 + 3 * L], *wc = n->in[5 + 3 * L];
  AttnParams ap = {p.cells, wi->val.data, wc->val.data, wi->grad.data, wc->grad.data};
  attn_decoder_bwd(&d, &ap, p.ws);
}

/* ---- accessors ------------------------------------------------------------- */

/* Contract in ops_attn.h. */
const float *attn_dec_weights(const Node *n, int *T, int *B, int *S) {
  const DecState *st = n->state;
  if (!st || !st->valid) return NULL;
  Parts p;
  parts((char *)st, st->T, st->B, st->S, st->E, st->H, st->L, &p);
  if (T) *T = st->T;
  if (B) *B = st->B;
  if (S) *S = st->S;
  return attn_decoder_weights(&st->d, p.ws);
}

/* Contract in ops_attn.h. */
const AttnDec *attn_dec_last(const Node *n, AttnTape *t) {
  const DecState *st = n->op == OP_ATTN_DEC ? n->state : NULL;
  if (!st || !st->valid) return NULL;
  Parts p;
  parts((char *)st, st->T, st->B, st->S, st->E, st->H, st->L, &p);
  return attn_decoder_tape(&st->d, p.ws, t) ? NULL : &st->d;
}

/* Contract in ops_attn.h. */
void attn_dec_carry(Node *n, int on) {
  DecState *st = n->state;
  if (st) st->carry = on;
  else if (on) {
    st = xcalloc(1, sizeof *st);
    st->bytes = sizeof *st;
    st->carry = 1;
    n->state = st;
  }
}

/* Contract in ops_attn.h. */
void attn_dec_reorder(Node *n, const int *rows, int B) {
  DecState *st = n->state;
  if (!st || !st->valid || st->B != B) return;
  Parts p;
  parts((char *)st, st->T, st->B, st->S, st->E, st->H, st->L, &p);
  tensor_gather_rows(p.hN, st->L, B, st->H, rows);
  tensor_gather_rows(p.cN, st->L, B, st->H, rows);
  tensor_gather_rows(p.feedN, 1, B, st->H, rows);
}

