/*
** attn.c — Luong attention with input feeding: one step, and the fused
** multi-layer LSTM decoder over T steps (contracts in attn.h).
**
** Products go to OpenBLAS, or a step's few-row ones to gemm_rows where
** that is the faster (gemm.h; lin_in and lin_out then read W_in^T and W_c^T,
** copied once per pass; above 112 units every weight a step reads, the
** cells' and W_in's and W_c's, comes from gemm_pack's panels, packed once
** per pass).  Per step: one product per layer on [x ; h]
** against the packed [W_ih | W_hh]; lin_in as one sgemm over the B rows;
** scores and contexts as one gemv per row over that row's unmasked memory
** (memory row j of batch row b sits at mem + (j*B + b)*H, so row b's memory
** is an [S,H] matrix with leading dimension B*H); lin_out as one sgemm on
** [c ; q].  Memory and all weights are constant across steps, so backward
** keeps each step's local gradients and takes every weight gradient, de and
** dmem in a few large sgemms over all T*B rows after the step loop.  The
** steps themselves run by blocks of rows when lstm_row_blocks says so (each
** thread every step of its own streams: dec_blocks), else whole, each step
** split by hidden units over the pool.
*/
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <assert.h>
#include "attn.h"
#include "lstm.h"          /* before cblas.h: complex.h's I would clash with it */
#include "seqk.h"          /* seqk_expf, seqk_tanhf: vectorizable */
#include <cblas.h>
#include "par.h"
#include "gemm.h"

#define RM CblasRowMajor
#define NT CblasNoTrans
#define TR CblasTrans

static int clamp_len(int n, int S) { return n < 0 ? 0 : n > S ? S : n; }

/* ---- attention rows: forward, local backward, weight gradients --------- */

/* The per-row parts (each batch row attends over its own memory) run on
** blocks of rows over the thread pool (par.h). */
#define ATT_GRAIN 4
typedef struct AttRows {
  int B, S, H, b0;                   /* rows b0 + [lo, hi) of B */
  const float *mem;
  const int *len;
  float *cq, *qin, *w;               /* forward: writes w, c (left half of cq) */
  const float *dcq;                  /* backward: reads these, writes ds, dqin */
  float *ds, *dqin;
} AttRows;

/* Scores, softmax and context for rows [lo, hi). */
static void att_fwd_rows(void *ctx, long lo, long hi) {
  const AttRows *a = ctx;
  const int S = a->S, H = a->H, ldm = a->B * H;
  for (long b = a->b0 + lo; b < a->b0 + hi; b++) {
    int n = clamp_len(a->len[b], S);
    float *wb = a->w + (size_t)b * S, *cb = a->cq + (size_t)b * 2 * H;
    const float *mb = a->mem + (size_t)b * H;
    if (n == 0) {
      memset(wb, 0, sizeof(float) * S);
      memset(cb, 0, sizeof(float) * H);
      continue;
    }
    cblas_sgemv(RM, NT, n, H, 1.0f, mb, ldm, a->qin + (size_t)b * H, 1, 0.0f, wb, 1);
    float mx = wb[0], sum = 0.0f;
    for (int j = 1; j < n; j++) if (wb[j] > mx) mx = wb[j];
    for (int j = 0; j < n; j++) { wb[j] = seqk_expf(wb[j] - mx); sum += wb[j]; }
    float inv = 1.0f / sum;           /* sum >= 1: the max term is exp(0) */
    for (int j = 0; j < n; j++) wb[j] *= inv;
    for (int j = n; j < S; j++) wb[j] = 0.0f;
    cblas_sgemv(RM, TR, n, H, 1.0f, mb, ldm, wb, 1, 0.0f, cb, 1);
  }
}

/* Back through context, softmax and scores for rows [lo, hi). */
static void att_bwd_rows(void *ctx, long lo, long hi) {
  const AttRows *a = ctx;
  const int S = a->S, H = a->H, ldm = a->B * H;
  for (long b = a->b0 + lo; b < a->b0 + hi; b++) {
    int n = clamp_len(a->len[b], S);
    const float *wb = a->w + (size_t)b * S, *mb = a->mem + (size_t)b * H;
    float *db = a->ds + (size_t)b * S, *dqb = a->dqin + (size_t)b * H;
    memset(db, 0, sizeof(float) * S);
    if (n == 0) { memset(dqb, 0, sizeof(float) * H); continue; }
    /* dw_j = mem_j . dc; softmax: ds_j = w_j (dw_j - sum_k w_k dw_k) */
    cblas_sgemv(RM, NT, n, H, 1.0f, mb, ldm, a->dcq + (size_t)b * 2 * H, 1, 0.0f, db, 1);
    float dot = 0.0f;
    for (int j = 0; j < n; j++) dot += wb[j] * db[j];
    for (int j = 0; j < n; j++) db[j] = wb[j] * (db[j] - dot);
    cblas_sgemv(RM, TR, n, H, 1.0f, mb, ldm, db, 1, 0.0f, dqb, 1);
  }
}

/* Memory gradient of rows [lo, hi) over all steps: w_b [T,S] (ld B*S),
** dc_b [T,H] (ld 2BH); dmem_b [S,H] (ld BH) += w_b^T dc_b + ds_b^T qin_b. */
typedef struct DmemRows {
  int T, B, S, H;
  const float *cq, *qin, *w, *dcq, *ds;
  float *dmem;
} DmemRows;
static void att_dmem_rows(void *ctx, long lo, long hi) {
  const DmemRows *d = ctx;
  const int B = d->B, S = d->S, H = d->H, T = d->T;
  for (long b = lo; b < hi; b++) {
    float *dm = d->dmem + (size_t)b * H;
    par_gemm(1, 0, S, H, T, 1.0f, d->w + (size_t)b * S, B * S, d->dcq + (size_t)b * 2 * H, 2 * B * H, 1.0f, dm, B * H);
    par_gemm(1, 0, S, H, T, 1.0f, d->ds + (size_t)b * S, B * S, d->qin + (size_t)b * H, B * H, 1.0f, dm, B * H);
  }
}

/* The attention weights as a step's products read them: W_in and W_c
** themselves (OpenBLAS; gemm_rows in the backward when gemm_rows_on), or
** for graphrun's kernel (gemm.h) the forward's transposes (gemm_rows_on) or
** all four in panels (gemm_panels_on).  Unused ones are NULL. */
typedef struct AttW {
  const float *W_in, *W_c;           /* [H,H], [H,2H] */
  const float *WinT, *WcT;           /* W_in^T, W_c^T for gemm_rows */
  const float *WinTP, *WcTP;         /* W_in^T, W_c^T in panels (forward) */
  const float *WinP, *WcP;           /* W_in, W_c in panels (backward) */
} AttW;

/* C[n,N] (+ C when acc) = A[n,K] B, where B [K,N] is W (row stride ldw) or
** W^T (wtrans): from B's panels P, else gemm_rows on Bm (B itself, row
** stride N), else OpenBLAS on W. */
static void att_prod(int n, int N, int K, const float *A, int lda, const float *W, int ldw, int wtrans,
                     const float *Bm, const float *P, int acc, float *C, int ldc) {
  if (P) gemm_rows_panels(n, N, K, A, lda, P, gemm_panels_stride(K), acc, C, ldc);
  else if (Bm) gemm_rows(n, N, K, A, lda, Bm, N, acc, C, ldc);
  else par_gemm(0, wtrans, n, N, K, 1.0f, A, lda, W, ldw, acc ? 1.0f : 0.0f, C, ldc);
}

/* x = tanh x, in the widest vectors the CPU has (as the cells': the same
** bits on every clone). */
static SEQK_CLONES void tanh_inplace(float *x, size_t n) {
  for (size_t i = 0; i < n; i++) x[i] = seqk_tanhf(x[i]);
}

/* Forward for rows [b0, b1) of B (the step's arrays hold all B rows);
** contract of attn_step_fwd. */
static void att_fwd(int B, int b0, int b1, int S, int H, const float *mem, const int *len, const AttW *aw,
                    float *cq, float *qin, float *w, float *ht) {
  const int n = b1 - b0;
  const size_t o = (size_t)b0 * H;
  /* qin = q W_in^T: q is the right half of cq */
  att_prod(n, H, H, cq + 2 * o + H, 2 * H, aw->W_in, H, 1, aw->WinT, aw->WinTP, 0, qin + o, H);
  AttRows rows = { B, S, H, b0, mem, len, cq, qin, w, NULL, NULL, NULL };
  par_for(n, ATT_GRAIN, att_fwd_rows, &rows);
  /* ht = tanh([c ; q] W_c^T) */
  att_prod(n, H, 2 * H, cq + 2 * o, 2 * H, aw->W_c, 2 * H, 1, aw->WcT, aw->WcTP, 0, ht + o, H);
  tanh_inplace(ht + o, (size_t)n * H);
}

/* Local backward for B rows from dht: writes dz [B,H] (w.r.t. the pre-tanh
** output), dcq [B,2H] (w.r.t. [c ; q] through W_c), ds [B,S] (w.r.t. the
** scores, 0 where masked), dqin [B,H]; accumulates dq [B,H]. */
static void att_bwd(int B, int b0, int b1, int S, int H, const float *mem, const int *len, const AttW *aw,
                    const float *w, const float *ht, const float *dht, float *dq,
                    float *dz, float *dcq, float *ds, float *dqin) {
  const int n = b1 - b0, own = gemm_rows_on(H);
  for (size_t i = (size_t)b0 * H, e = (size_t)b1 * H; i < e; i++) dz[i] = dht[i] * (1.0f - ht[i] * ht[i]);
  att_prod(n, 2 * H, H, dz + (size_t)b0 * H, H, aw->W_c, 2 * H, 0, own ? aw->W_c : NULL, aw->WcP, 0,
           dcq + (size_t)b0 * 2 * H, 2 * H);
  AttRows rows = { B, S, H, b0, mem, len, NULL, NULL, (float *)w, dcq, ds, dqin };
  par_for(n, ATT_GRAIN, att_bwd_rows, &rows);
  /* dq += dcq's q half + dqin W_in */
  for (int b = b0; b < b1; b++) {
    const float *src = dcq + (size_t)b * 2 * H + H;
    float *dst = dq + (size_t)b * H;
    for (int k = 0; k < H; k++) dst[k] += src[k];
  }
  att_prod(n, H, H, dqin + (size_t)b0 * H, H, aw->W_in, H, 0, own ? aw->W_in : NULL, aw->WinP, 1,
           dq + (size_t)b0 * H, H);
}

/* Weight and memory gradients of T steps of B rows at once, from the saved
** cq, qin, w [T,B,*] and the local gradients dz, dcq, ds, dqin [T,B,*] of
** att_bwd.  Accumulates dmem, dW_in, dW_c (each may be NULL). */
static void att_grads(int T, int B, int S, int H,
                      const float *cq, const float *qin, const float *w,
                      const float *dz, const float *dcq, const float *ds, const float *dqin,
                      float *dmem, float *dW_in, float *dW_c) {
  const int N = T * B;
  if (dW_c)
    par_gemm(1, 0, H, 2 * H, N, 1.0f, dz, H, cq, 2 * H, 1.0f, dW_c, 2 * H);
  if (dW_in)
    par_gemm(1, 0, H, H, N, 1.0f, dqin, H, cq + H, 2 * H, 1.0f, dW_in, H);
  if (dmem) {
    DmemRows d = { T, B, S, H, cq, qin, w, dcq, ds, dmem };
    par_for(B, 1, att_dmem_rows, &d);
  }
}

/* ---- one attention step (public) --------------------------------------- */

/* Contract in attn.h. */
void attn_step_fwd(int B, int S, int H, const float *mem, const int *len,
                   const float *W_in, const float *W_c,
                   float *cq, float *qin, float *w, float *ht) {
  AttW aw = { .W_in = W_in, .W_c = W_c };
  att_fwd(B, 0, B, S, H, mem, len, &aw, cq, qin, w, ht);
}

/* Contract in attn.h. */
size_t attn_step_scratch(int B, int S, int H) {
  return (size_t)B * (4 * (size_t)H + (size_t)S);
}

/* Contract in attn.h.  Scratch holds dz [B,H], dcq [B,2H], dqin [B,H], ds [B,S]. */
void attn_step_bwd(int B, int S, int H, const float *mem, const int *len,
                   const float *W_in, const float *W_c,
                   const float *cq, const float *qin, const float *w, const float *ht,
                   const float *dht, float *dq, float *dmem, float *dW_in, float *dW_c,
                   float *scratch) {
  float *dz = scratch, *dcq = dz + (size_t)B * H, *dqin = dcq + (size_t)B * 2 * H;
  float *ds = dqin + (size_t)B * H;
  AttW aw = { .W_in = W_in, .W_c = W_c };
  att_bwd(B, 0, B, S, H, mem, len, &aw, w, ht, dht, dq, dz, dcq, ds, dqin);
  att_grads(1, B, S, H, cq, qin, w, dz, dcq, ds, dqin, dmem, dW_in, dW_c);
}

/* ---- the decoder's workspace ------------------------------------------- */

/* a*b, saturating at SIZE_MAX. */
static size_t mulz(size_t a, size_t b) {
  return (a == SIZE_MAX || b == SIZE_MAX || (a && b > SIZE_MAX / a)) ? SIZE_MAX : a * b;
}

/* Places a section of n floats at *off (64-byte aligned) and advances *off;
** *off saturates at SIZE_MAX on overflow.  Returns the section, or NULL when
** only measuring (base NULL). */
static float *carve(char *base, size_t *off, size_t n) {
  size_t bytes = mulz(n, sizeof(float));
  if (*off == SIZE_MAX || bytes > SIZE_MAX - 64 - *off) { *off = SIZE_MAX; return NULL; }
  float *p = base ? (float *)(base + *off) : NULL;
  *off += (bytes + 63) & ~(size_t)63;
  return p;
}

/* Lays the workspace out for d's sizes; returns its size in bytes, 0 if the
** sizes are invalid or it overflows.  base NULL: measure only. */
static size_t layout(const AttnDec *d, void *base, AttnTape *t) {
  if (d->T < 1 || d->B < 1 || d->S < 1 || d->E < 1 || d->H < 1 || d->L < 1) return 0;
  size_t T = (size_t)d->T, B = (size_t)d->B, S = (size_t)d->S, H = (size_t)d->H, L = (size_t)d->L;
  size_t LT = mulz(L, T), TB = mulz(T, B), off = 0;
  char *p = base;
  int pan = gemm_panels_on(d->H);     /* 2H is a multiple of 16: 8H^2 floats a layer either way */
  t->Wcat = carve(p, &off, pan ? 0 : mulz(L, 8 * H * H));
  t->WcatT = carve(p, &off, pan ? 0 : mulz(L, 8 * H * H));
  t->WinT = carve(p, &off, pan ? 0 : mulz(H, H));
  t->WcT  = carve(p, &off, pan ? 0 : mulz(2 * H, H));
  t->WcatTP = carve(p, &off, pan ? mulz(L, 8 * H * H) : 0);
  t->WcatP  = carve(p, &off, pan ? mulz(L, 8 * H * H) : 0);
  t->WinTP = carve(p, &off, pan ? mulz(H, H) : 0);       /* H a multiple of 16: no padding */
  t->WcTP  = carve(p, &off, pan ? mulz(2 * H, H) : 0);
  t->WinP  = carve(p, &off, pan ? mulz(H, H) : 0);
  t->WcP   = carve(p, &off, pan ? mulz(2 * H, H) : 0);
  int split = gemm_split_on();       /* the embedding part's panels: forward W^T's, backward W's */
  size_t E = (size_t)d->E, we = split ? gemm_panels_floats(E, 4 * H) : 0, we2 = split ? gemm_panels_floats(4 * H, E) : 0;
  t->WeP   = carve(p, &off, we > we2 ? we : we2);
  if (!split) t->WeP = NULL;
  if (pan) t->Wcat = t->WcatT = t->WinT = t->WcT = NULL;
  else t->WcatTP = t->WcatP = t->WinTP = t->WcTP = t->WinP = t->WcP = NULL;
  t->G    = carve(p, &off, mulz(mulz(LT, B), 4 * H));
  t->XH   = carve(p, &off, mulz(mulz(LT, B), 2 * H));
  t->C    = carve(p, &off, mulz(mulz(LT, B), H));
  t->CQ   = carve(p, &off, mulz(TB, 2 * H));
  t->QIN  = carve(p, &off, mulz(TB, H));
  t->W    = carve(p, &off, mulz(TB, S));
  t->zero = carve(p, &off, mulz(B, H));
  t->hbuf = carve(p, &off, mulz(B, H));
  t->DG   = carve(p, &off, mulz(mulz(LT, B), 4 * H));
  t->DCQ  = carve(p, &off, mulz(TB, 2 * H));
  t->DZ   = carve(p, &off, mulz(TB, H));
  t->DQIN = carve(p, &off, mulz(TB, H));
  t->DS   = carve(p, &off, mulz(TB, S));
  t->dh   = carve(p, &off, mulz(L, B * H));
  t->dc   = carve(p, &off, mulz(L, B * H));
  t->dxh  = carve(p, &off, mulz(B, 2 * H));
  t->part = carve(p, &off, mulz(mulz((size_t)lstm_step_blocks(d->H), B), 2 * H));
  t->dht  = carve(p, &off, mulz(B, H));
  t->dfeed= carve(p, &off, mulz(B, H));
  return off == SIZE_MAX ? 0 : off;
}

/* Contract in attn.h. */
size_t attn_decoder_ws_bytes(const AttnDec *d) {
  AttnTape t;
  return layout(d, NULL, &t);
}

/* Contract in attn.h. */
int attn_decoder_tape(const AttnDec *d, const void *ws, AttnTape *t) {
  return layout(d, (void *)ws, t) ? 0 : -1;
}

/* Contract in attn.h. */
const float *attn_decoder_weights(const AttnDec *d, const void *ws) {
  AttnTape t;
  if (!layout(d, (void *)ws, &t)) return NULL;
  return t.W;
}

/* Copies B rows of H floats from src (row stride ls) to dst (stride ld);
** src NULL writes zeros. */
static void copy_rows(int B, int H, const float *src, int ls, float *dst, int ld) {
  for (int b = 0; b < B; b++) {
    if (src) memcpy(dst + (size_t)b * ld, src + (size_t)b * ls, sizeof(float) * H);
    else memset(dst + (size_t)b * ld, 0, sizeof(float) * H);
  }
}

/* ---- the decoder: forward ---------------------------------------------- */

/* The decoder's T steps for rows [b0, b1) of its B.  Rows of a batch
** never meet inside the recurrence (each attends over its own memory), so
** a block of rows can run all its steps on one thread, like an lstm block's
** (lstm_row_blocks); the whole batch takes the same calls with the pool. */
/* Up to this many units (lstm.c has the measurements), or any width whose
** steps read packed weights (t.WcatTP): with the Haswell kernels at d = 256,
** 2 threads, attn_lm's whole run took 0.98 of the time with the packed
** weights and 0.98 of that again split by rows (2,000 Brown sentences, A/B
** pairs). */
#define ATTN_ROW_MAXH 112
int attn_decoder_row_blocks(const AttnDec *d) {
  return lstm_row_blocks(d->B, d->H, gemm_panels_on(d->H) ? d->H : ATTN_ROW_MAXH, d->hook.fn != NULL);
}
static void dec_fwd_rows(const AttnDec *d, const AttnParams *p, const AttnTape *tp, int b0, int b1) {
  const AttnTape t = *tp;
  const int T = d->T, B = d->B, S = d->S, H = d->H, L = d->L, n = b1 - b0;
  const size_t BH = (size_t)B * H, B2H = 2 * BH, B4H = 4 * BH, o = (size_t)b0 * H;
  const int own = gemm_rows_on(H);
  const AttW aw = { p->W_in, p->W_c, own ? t.WinT : NULL, own ? t.WcT : NULL, t.WinTP, t.WcTP, NULL, NULL };
  for (int tt = 0; tt < T; tt++) {
    /* layer 0's x is the previous h~ */
    const float *feed = tt ? d->out + (tt - 1) * BH : d->feed0;
    copy_rows(n, H, feed ? feed + o : NULL, H, t.XH + (size_t)tt * B2H + 2 * o, 2 * H);
    for (int l = 0; l < L; l++) {
      size_t lt = (size_t)l * T + tt;
      float *xh = t.XH + lt * B2H + 2 * o, *g = t.G + lt * B4H + 4 * o, *c = t.C + lt * BH + o;
      const float *cprev = tt ? c - BH : d->c0 ? d->c0 + l * BH + o : t.zero + o;
      float *h = t.hbuf + o;
      if (l) fill_rows(g, n, p->cell[l].b, 4 * H);   /* layer 0's bias came with its input product */
      lstm_step_fwd(n, H, 2 * H, xh, t.WcatT ? t.WcatT + (size_t)l * 8 * H * H : NULL,
                    t.WcatTP ? t.WcatTP + (size_t)l * 8 * H * H : NULL, g, cprev, c, h);
      if (tt + 1 < T) copy_rows(n, H, h, H, xh + B2H + H, 2 * H);
      if (tt + 1 == T && d->hN) memcpy(d->hN + l * BH + o, h, sizeof(float) * (size_t)n * H);
      if (l + 1 < L) {
        float *x = t.XH + (lt + T) * B2H + 2 * o;        /* layer l+1, same step */
        const float *m = d->drop ? d->drop + lt * BH + o : NULL;
        for (int b = 0; b < n; b++)
          for (int k = 0; k < H; k++)
            x[(size_t)b * 2 * H + k] = m ? h[(size_t)b * H + k] * m[(size_t)b * H + k]
                                         : h[(size_t)b * H + k];
      } else {
        copy_rows(n, H, h, H, t.CQ + tt * B2H + 2 * o + H, 2 * H);
      }
    }
    att_fwd(B, b0, b1, S, H, d->mem, d->len, &aw, t.CQ + tt * B2H, t.QIN + tt * BH, t.W + (size_t)tt * B * S,
            d->out + tt * BH);
  }
}

/* Backward through the T steps for rows [b0, b1) of B (see dec_fwd_rows);
** the hook (a trace) sees whole steps, so it comes only with b0 = 0, b1 = B. */
static void dec_bwd_rows(const AttnDec *d, const AttnParams *p, const AttnTape *tp, int b0, int b1) {
  const AttnTape t = *tp;
  const int T = d->T, B = d->B, S = d->S, H = d->H, L = d->L, n = b1 - b0;
  const size_t BH = (size_t)B * H, B2H = 2 * BH, B4H = 4 * BH, o = (size_t)b0 * H;
  const AttW aw = { p->W_in, p->W_c, NULL, NULL, NULL, NULL, t.WinP, t.WcP };
  for (int tt = T - 1; tt >= 0; tt--) {
    for (size_t i = o; i < (size_t)b1 * H; i++) t.dht[i] = d->dout[tt * BH + i] + t.dfeed[i];
    /* attention: its dq joins the top layer's dh */
    att_bwd(B, b0, b1, S, H, d->mem, d->len, &aw, t.W + (size_t)tt * B * S,
            d->out + tt * BH, t.dht, t.dh + (L - 1) * BH,
            t.DZ + tt * BH, t.DCQ + tt * B2H, t.DS + (size_t)tt * B * S, t.DQIN + tt * BH);
    if (d->hook.fn) {
      BpttStep s = { d->hook.tag, -1, tt, B, H, S, t.dht, t.DS + (size_t)tt * B * S, NULL,
                     t.DCQ + tt * B2H, 2 * H, NULL, 0 };
      d->hook.fn(d->hook.ctx, &s);
    }
    for (int l = L - 1; l >= 0; l--) {
      size_t lt = (size_t)l * T + tt;
      const float *c = t.C + lt * BH + o;
      const float *cprev = tt ? c - BH : d->c0 ? d->c0 + l * BH + o : t.zero + o;
      float *dg = t.DG + lt * B4H + 4 * o, *dh = t.dh + l * BH + o, *dxh = t.dxh + 2 * o;
      lstm_step_bwd(n, H, 2 * H, t.G + lt * B4H + 4 * o, cprev, c, dh, t.dc + l * BH + o,
                    t.Wcat ? t.Wcat + (size_t)l * 8 * H * H : NULL, t.WcatP ? t.WcatP + (size_t)l * 8 * H * H : NULL,
                    dg, t.part + 2 * o, dxh);
      if (d->hook.fn) {
        BpttStep s = { d->hook.tag, l, tt, B, H, S, dh, dg, t.dc + l * BH, t.dxh + H, 2 * H, t.dxh, 2 * H };
        d->hook.fn(d->hook.ctx, &s);
      }
      copy_rows(n, H, dxh + H, 2 * H, dh, H);       /* for h at step tt-1 */
      if (l > 0) {
        float *dlow = t.dh + (l - 1) * BH + o;
        const float *m = d->drop ? d->drop + (lt - T) * BH + o : NULL;
        for (int b = 0; b < n; b++)
          for (int k = 0; k < H; k++) {
            float v = dxh[(size_t)b * 2 * H + k];
            dlow[(size_t)b * H + k] += m ? v * m[(size_t)b * H + k] : v;
          }
      } else {
        copy_rows(n, H, dxh, 2 * H, t.dfeed + o, H);    /* for h~ at step tt-1 */
      }
    }
  }
}

/* Blocks [lo, hi) of k->n blocks of the decoder's rows, forward or back
** (one block: the whole batch, each step split by units over the pool). */
typedef struct Blocks { const AttnDec *d; const AttnParams *p; const AttnTape *t; int back, n; } Blocks;
static void dec_blocks(void *ctx, long lo, long hi) {
  const Blocks *k = ctx;
  const int B = k->d->B;
  for (long i = lo; i < hi; i++) {
    int b0 = (int)(B * i / k->n), b1 = (int)(B * (i + 1) / k->n);
    (k->back ? dec_bwd_rows : dec_fwd_rows)(k->d, k->p, k->t, b0, b1);
  }
}

/* Rows [lo, hi) of a layer's [W_ih | W_hh] (layer 0: W_ih's feed columns
** only, past the E embedding ones). */
typedef struct CatJob { const AttnCell *cl; float *wc; int H, in, skip; } CatJob;
static void cat_rows(void *ctx, long lo, long hi) {
  const CatJob *j = ctx;
  const size_t H = (size_t)j->H;
  for (long r = lo; r < hi; r++) {
    memcpy(j->wc + r * 2 * H, j->cl->W_ih + r * j->in + j->skip, sizeof(float) * H);
    memcpy(j->wc + r * 2 * H + H, j->cl->W_hh + r * H, sizeof(float) * H);
  }
}

/* Layer l's [W_ih | W_hh] [4H,2H] (layer 0: W_ih's feed columns, past the
** E embedding ones) in gemm_pack's panels, packed from the two matrices:
** trans, its transpose [2H,4H] (the forward steps' x W^T), K rows of W_ih
** then of W_hh in each panel; else itself (the backward steps' dgates W),
** W_hh's columns starting a panel (H is a multiple of 16 with panels). */
static void pack_cat(const AttnCell *cl, int l, int E, int H, int trans, float *P) {
  const float *wih = cl->W_ih + (l ? 0 : E);
  const int in = l ? H : E + H;
  if (trans) {
    gemm_pack_rows(H, 4 * H, wih, in, 1, P, gemm_panels_stride(2 * H));
    gemm_pack_rows(H, 4 * H, cl->W_hh, H, 1, P + (size_t)H * GEMM_PANEL, gemm_panels_stride(2 * H));
  } else {
    gemm_pack(4 * H, H, wih, in, 0, P);
    gemm_pack(4 * H, H, cl->W_hh, H, 0, P + (size_t)(H / GEMM_PANEL) * gemm_panels_stride(4 * H));
  }
}

/* Contract in attn.h. */
void attn_decoder_fwd(const AttnDec *d, const AttnParams *p, void *ws) {
  AttnTape t;
  size_t sz = layout(d, ws, &t);
  assert(sz && ws);
  (void)sz;
  const int T = d->T, B = d->B, E = d->E, H = d->H, L = d->L;
  const size_t BH = (size_t)B * H, B2H = 2 * BH;

  memset(t.zero, 0, sizeof(float) * BH);
  /* each layer's [W_ih | W_hh] (layer 0: only W_ih's feed columns), which
  ** the steps read transposed: in panels, or joined in Wcat and transposed;
  ** the steps of layers above 0 start their gates from the bias themselves */
  for (int l = 0; l < L; l++) {
    const AttnCell *cl = &p->cell[l];
    if (t.WcatTP) { pack_cat(cl, l, E, H, 1, t.WcatTP + (size_t)l * 8 * H * H); continue; }
    CatJob cj = { cl, t.Wcat + (size_t)l * 8 * H * H, H, l ? H : E + H, l ? 0 : E };
    par_for(4 * H, 64, cat_rows, &cj);
    transpose_to(4 * H, 2 * H, cj.wc, t.WcatT + (size_t)l * 8 * H * H, 0);
  }
  if (t.WinTP) {                     /* the steps' lin_in and lin_out read W_in^T and W_c^T */
    gemm_pack(H, H, p->W_in, H, 1, t.WinTP);
    gemm_pack(2 * H, H, p->W_c, 2 * H, 1, t.WcTP);
  } else if (gemm_rows_on(H)) {
    transpose_to(H, H, p->W_in, t.WinT, 0);
    transpose_to(H, 2 * H, p->W_c, t.WcT, 0);
  }
  /* layer 0's bias and embedding part for all steps at once */
  gemm_all_steps(T * B, 4 * H, E, d->e, E, p->cell[0].W_ih, E + H, 1, p->cell[0].b, 0, t.WeP, t.G, 4 * H);
  /* initial h of every layer into its step-0 input */
  for (int l = 0; l < L; l++)
    copy_rows(B, H, d->h0 ? d->h0 + l * BH : NULL, H, t.XH + (size_t)l * T * B2H + H, 2 * H);

  Blocks k = { d, p, &t, 0, attn_decoder_row_blocks(d) };
  par_for(k.n, 1, dec_blocks, &k);
  if (d->cN)
    for (int l = 0; l < L; l++)
      memcpy(d->cN + l * BH, t.C + ((size_t)l * T + T - 1) * BH, sizeof(float) * BH);
  if (d->feedN) memcpy(d->feedN, d->out + (T - 1) * BH, sizeof(float) * BH);
}

/* ---- the decoder: backward --------------------------------------------- */

/* dst[i] += src[i] for n floats; src NULL adds nothing. */
static void add_to(float *dst, const float *src, size_t n) {
  if (!dst || !src) return;
  for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* dst = src for n floats, src NULL gives zeros. */
static void set_from(float *dst, const float *src, size_t n) {
  if (src) memcpy(dst, src, sizeof(float) * n);
  else memset(dst, 0, sizeof(float) * n);
}

/* Contract in attn.h. */
void attn_decoder_bwd(const AttnDec *d, const AttnParams *p, void *ws) {
  AttnTape t;
  size_t sz = layout(d, ws, &t);
  assert(sz && ws && d->dout);
  (void)sz;
  const int T = d->T, B = d->B, S = d->S, E = d->E, H = d->H, L = d->L;
  const size_t BH = (size_t)B * H, B2H = 2 * BH, B4H = 4 * BH, TB = (size_t)T * B;

  set_from(t.dh, d->dhN, L * BH);
  set_from(t.dc, d->dcN, L * BH);
  set_from(t.dfeed, d->dfeedN, BH);
  if (t.WcatP) {                     /* the backward steps' products, from panels: */
    for (int l = 0; l < L; l++)      /* dx = dgates [W_ih | W_hh], dcq = dz W_c, dq += dqin W_in */
      pack_cat(&p->cell[l], l, E, H, 0, t.WcatP + (size_t)l * 8 * H * H);
    gemm_pack(H, 2 * H, p->W_c, 2 * H, 0, t.WcP);
    gemm_pack(H, H, p->W_in, H, 0, t.WinP);
  }
  Blocks k = { d, p, &t, 1, attn_decoder_row_blocks(d) };
  par_for(k.n, 1, dec_blocks, &k);
  add_to(d->dh0, t.dh, L * BH);
  add_to(d->dc0, t.dc, L * BH);
  add_to(d->dfeed0, t.dfeed, BH);

  /* everything that does not feed the recurrence, over all T*B rows */
  if (d->de) gemm_all_steps((int)TB, E, 4 * H, t.DG, 4 * H, p->cell[0].W_ih, E + H, 0, NULL, 1, t.WeP, d->de, E);
  for (int l = 0; l < L; l++) {
    const AttnCell *cl = &p->cell[l];
    const float *dg = t.DG + (size_t)l * T * B4H, *xh = t.XH + (size_t)l * T * B2H;
    int in = l ? H : E + H, skip = l ? 0 : E;
    if (cl->dW_ih) {
      if (l == 0)
        par_gemm(1, 0, 4 * H, E, (int)TB, 1.0f, dg, 4 * H, d->e, E, 1.0f, cl->dW_ih, in);
      par_gemm(1, 0, 4 * H, H, (int)TB, 1.0f, dg, 4 * H, xh, 2 * H, 1.0f,
                  cl->dW_ih + skip, in);
    }
    if (cl->dW_hh)
      par_gemm(1, 0, 4 * H, H, (int)TB, 1.0f, dg, 4 * H, xh + H, 2 * H, 1.0f,
                  cl->dW_hh, H);
    if (cl->db) par_colsum(dg, (long)TB, 4 * H, cl->db);
  }
  att_grads(T, B, S, H, t.CQ, t.QIN, t.W, t.DZ, t.DCQ, t.DS, t.DQIN, d->dmem, p->dW_in, p->dW_c);
}
