/*
** lstm.c — fused LSTM kernels: one cell step forward/backward, and a
** multi-layer LSTM over a whole time-major sequence.
**
** Products go to OpenBLAS through par.h's par_gemm (split over the cores),
** or a step's few-row ones to gemm_rows where that is the faster (gemm.h),
** and with them the input projection and input gradient over all steps
** (gemm_panels_split);
** everything elementwise is one fused pass per step.  Gate order and weight
** layout follow PyTorch (see lstm.h), so numbers can be compared with
** torch.nn.LSTM directly.
*/
#include <math.h>
#include <string.h>
#include <assert.h>
#include "lstm.h"
#include "par.h"
#include "seqk.h"
#include "blas.h"
#include "gemm.h"

/* ---- one cell step ------------------------------------------------------ */

/* The elementwise math runs on chunks of CH columns copied into local
** arrays: fixed trip counts over unaliased memory are what lets the compiler
** vectorize at plain -O2, and the chunk tail is the same code on zeros.  */
#define CH 16

/* Copies n <= CH floats into a chunk, zero-padding the rest; and back.  A
** full chunk is a fixed-size copy, which the compiler turns into one vector
** move (a variable-length memcpy is a library call, slower than the math). */
static inline void chunk_in(float *dst, const float *src, int n) {
  if (n == CH) { memcpy(dst, src, sizeof(float) * CH); return; }
  memset(dst, 0, sizeof(float) * CH);
  memcpy(dst, src, sizeof(float) * (size_t)n);
}
static inline void chunk_out(float *dst, const float *src, int n) {
  if (n == CH) memcpy(dst, src, sizeof(float) * CH);
  else memcpy(dst, src, sizeof(float) * (size_t)n);
}

/* lstm_cell_fwd on units [u0, u1) of each row only (the step loops give
** each thread a block of units).  Row b of gates is [i | f | g | o], each
** H wide; c may alias c_prev (state updated in place). */
static SEQK_CLONES void cell_fwd(int B, int H, int u0, int u1, float *gates, const float *c_prev, float *c, float *h) {
  for (int b = 0; b < B; b++) {
    float *gr = gates + (size_t)b * 4 * H;
    const float *cpr = c_prev + (size_t)b * H;
    float *cr = c + (size_t)b * H, *hr = h + (size_t)b * H;
    for (int j0 = u0; j0 < u1; j0 += CH) {
      int n = u1 - j0 < CH ? u1 - j0 : CH;
      float gi[CH], gf[CH], gg[CH], go[CH], cp[CH], cc[CH], hh[CH];
      chunk_in(gi, gr + j0, n);
      chunk_in(gf, gr + H + j0, n);
      chunk_in(gg, gr + 2 * H + j0, n);
      chunk_in(go, gr + 3 * H + j0, n);
      chunk_in(cp, cpr + j0, n);
      for (int k = 0; k < CH; k++) {
        gi[k] = seqk_sigmf(gi[k]);
        gf[k] = seqk_sigmf(gf[k]);
        gg[k] = seqk_tanhf(gg[k]);
        go[k] = seqk_sigmf(go[k]);
        cc[k] = gf[k] * cp[k] + gi[k] * gg[k];
        hh[k] = go[k] * seqk_tanhf(cc[k]);
      }
      chunk_out(gr + j0, gi, n);
      chunk_out(gr + H + j0, gf, n);
      chunk_out(gr + 2 * H + j0, gg, n);
      chunk_out(gr + 3 * H + j0, go, n);
      chunk_out(cr + j0, cc, n);
      chunk_out(hr + j0, hh, n);
    }
  }
}

/* lstm_cell_bwd on units [u0, u1) of each row.  With tc = tanh(c) and
** dC = dc + dh*o*(1-tc^2):
**   do = dh*tc*o(1-o),  di = dC*g*i(1-i),  df = dC*c_prev*f(1-f),
**   dg = dC*i*(1-g^2),  dc_prev = dC*f.
** dgates may not alias gates; dc_prev may alias dc. */
static SEQK_CLONES void cell_bwd(int B, int H, int u0, int u1, const float *gates, const float *c_prev, const float *c,
                   const float *dh, const float *dc, float *dgates, float *dc_prev) {
  for (int b = 0; b < B; b++) {
    const float *gr = gates + (size_t)b * 4 * H;
    float *dgr = dgates + (size_t)b * 4 * H;
    const float *cpr = c_prev + (size_t)b * H, *cr = c + (size_t)b * H, *dhr = dh + (size_t)b * H;
    const float *dcr = dc ? dc + (size_t)b * H : NULL;
    float *dcpr = dc_prev + (size_t)b * H;
    for (int j0 = u0; j0 < u1; j0 += CH) {
      int n = u1 - j0 < CH ? u1 - j0 : CH;
      float i[CH], f[CH], g[CH], o[CH], cp[CH], cc[CH], dhh[CH], dC[CH];
      float di[CH], df[CH], dg[CH], dout[CH];
      chunk_in(i, gr + j0, n);
      chunk_in(f, gr + H + j0, n);
      chunk_in(g, gr + 2 * H + j0, n);
      chunk_in(o, gr + 3 * H + j0, n);
      chunk_in(cp, cpr + j0, n);
      chunk_in(cc, cr + j0, n);
      chunk_in(dhh, dhr + j0, n);
      if (dcr) chunk_in(dC, dcr + j0, n); else memset(dC, 0, sizeof dC);
      for (int k = 0; k < CH; k++) {
        float tc = seqk_tanhf(cc[k]);
        dC[k] += dhh[k] * o[k] * (1.0f - tc * tc);
        dout[k] = dhh[k] * tc * o[k] * (1.0f - o[k]);
        di[k] = dC[k] * g[k] * i[k] * (1.0f - i[k]);
        df[k] = dC[k] * cp[k] * f[k] * (1.0f - f[k]);
        dg[k] = dC[k] * i[k] * (1.0f - g[k] * g[k]);
        dC[k] *= f[k];
      }
      chunk_out(dgr + j0, di, n);
      chunk_out(dgr + H + j0, df, n);
      chunk_out(dgr + 2 * H + j0, dg, n);
      chunk_out(dgr + 3 * H + j0, dout, n);
      chunk_out(dcpr + j0, dC, n);
    }
  }
}

void lstm_cell_fwd(int B, int H, float *gates, const float *c_prev, float *c, float *h) {
  cell_fwd(B, H, 0, H, gates, c_prev, c, h);
}

void lstm_cell_bwd(int B, int H, const float *gates, const float *c_prev, const float *c,
                   const float *dh, const float *dc, float *dgates, float *dc_prev) {
  cell_bwd(B, H, 0, H, gates, c_prev, c, dh, dc, dgates, dc_prev);
}

/* ---- multi-layer LSTM over a sequence ------------------------------------ */


/* Bytes arena_alloc takes for n floats (it aligns every block to 64). */
static size_t fbytes(size_t n) { return (n * sizeof(float) + 63) & ~(size_t)63; }

static int dropping(const LstmRun *r) { return r->training && r->p > 0.0f && r->L > 1; }

/* Real length of row b (clamped to [0,T]); T when there are no lengths. */
static inline int row_len(const LstmRun *r, int b) {
  if (!r->len) return r->T;
  int n = r->len[b];
  return n < 0 ? 0 : n > r->T ? r->T : n;
}
/* Whether row b is past its length at step t (its state held, its output 0). */
static inline int past_end(const LstmRun *r, int t, int b) { return r->len && t >= row_len(r, b); }

/* The widest input of a layer: W_ih's panels are sized for it. */
static int widest_in(const LstmRun *r) { return r->D > r->H ? r->D : r->H; }

size_t lstm_fwd_bytes(const LstmRun *r) {
  size_t T = (size_t)r->T, B = (size_t)r->B, H = (size_t)r->H, L = (size_t)r->L;
  size_t n = fbytes(L * T * B * 4 * H) + 2 * fbytes(L * (T + 1) * B * H);
  if (dropping(r)) n += 2 * fbytes((L - 1) * T * B * H);
  n += gemm_panels_on(r->H) ? fbytes(gemm_panels_floats(r->H, 4 * r->H)) : fbytes(4 * H * H);
  if (gemm_split_on()) n += fbytes(gemm_panels_floats(widest_in(r), 4 * r->H));
  return n;
}

/* Blocks of hidden units a step is split into: one per thread of the pool,
** each at least UNIT_MIN units wide. */
#define UNIT_MIN 32
static int unit_blocks(int H) {
  if (par_nested()) return 1;      /* inside a job the blocks would run serially: whole steps */
  int nb = par_threads();
  if (nb > H / UNIT_MIN) nb = H / UNIT_MIN;
  return nb < 1 ? 1 : nb;
}

size_t lstm_bwd_bytes(const LstmRun *r) {
  size_t T = (size_t)r->T, B = (size_t)r->B, H = (size_t)r->H;
  return fbytes(T * B * 4 * H) + fbytes(T * B * H) + 3 * fbytes(B * H) + 2 * fbytes((size_t)unit_blocks(r->H) * B * H)
         + (gemm_panels_on(r->H) ? fbytes(gemm_panels_floats(4 * r->H, r->H)) : 0)
         + (gemm_split_on() ? fbytes(gemm_panels_floats(4 * r->H, widest_in(r))) : 0);
}


/* Input rows [T*B, in] that layer l reads. */
static const float *layer_input(const LstmRun *r, int l) {
  size_t TBH = (size_t)r->T * r->B * r->H, BH = (size_t)r->B * r->H;
  if (l == 0) return r->x;
  if (r->xin) return r->xin + (size_t)(l - 1) * TBH;
  return r->h + (size_t)(l - 1) * (r->T + 1) * BH + BH;   /* outputs of layer l-1 */
}

/* One time step, split by hidden units: block k of nb owns units
** [H k/nb, H (k+1)/nb) of every gate, so it runs its part of the step's
** products and then the cell for exactly those units, and a step is one
** job for the pool.  Going forward, block k adds h_{t-1} W_hh^T's columns
** for its units into the gates; going back, it adds its gates' share of
** dG_t W_hh into its own partial sum of dh_{t-1}, and the next step (or
** the end of the layer) adds the nb partials in block order.  Rows past
** their length (r->len) hold their state going forward and get no
** gradient going back: their dh passes through unchanged. */
typedef struct Step {
  const LstmRun *r;                 /* for len (may be NULL: every row runs) */
  int b0;                           /* the first row's index in the batch (for len) */
  int B, H, K;                      /* rows, units, width of the recurrent input */
  int t, nb, rec;                   /* rec: add the recurrent product */
  const float *W;                   /* forward: [K,4H] (W_hh^T); backward: [4H,K] (W_hh) */
  const float *Wp; size_t pstride;  /* W in gemm_pack's panels (gemm_panels_on), or NULL */
  const float *x;                   /* forward: the recurrent input [B,K] (h_{t-1}) */
  float *G;                         /* the step's gates [B,4H] (activated in place) */
  const float *cp, *hp;             /* c_{t-1}, h_{t-1} (held rows copy it) */
  float *cc, *hc;                   /* c_t, h_t */
  const float *dout;                /* backward: gradient from above at t, or NULL */
  float *dh, *dc, *dG;              /* backward: dh_t, running dc; the step's dgates */
  const float *prev;                /* backward: [nb][B,H] partial sums of dh_t (step t+1's),
                                       or NULL: dh holds it already */
  float *part;                      /* backward: [nb][B,K] partial sums of dG W */
} Step;

/* Block k's units [u0, u1): split points on multiples of the cell's chunk
** (CH lanes), so that only the last block has a partial chunk. */
static int unit_split(const Step *s, long k) {
  if (k >= s->nb) return s->H;
  int u = (int)(s->H * k / s->nb);
  return u - u % CH;
}
static void units(const Step *s, long k, int *u0, int *u1) {
  *u0 = unit_split(s, k);
  *u1 = unit_split(s, k + 1);
}

/* Whether the step's row b is past its length. */
static int held(const Step *s, int b) { return s->r && past_end(s->r, s->t, s->b0 + b); }

/* A step's products: graphrun's own kernel where it is the faster
** (gemm_rows_on; gemm_panels_on: from W's panels, P the first one used),
** OpenBLAS otherwise. */
static void step_gemm(const Step *s, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                      const float *P, int acc, float *C, int ldc) {
  if (P) gemm_rows_panels(M, N, K, A, lda, P, s->pstride, acc, C, ldc);
  else if (gemm_rows_on(s->H)) gemm_rows(M, N, K, A, lda, B, ldb, acc, C, ldc);
  else par_gemm(0, 0, M, N, K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}

static void step_fwd(void *ctx, long lo, long hi) {
  const Step *s = ctx;
  const int B = s->B, H = s->H, K = s->K, G4 = 4 * H;
  for (long k = lo; k < hi; k++) {
    int u0, u1;
    units(s, k, &u0, &u1);
    if (s->rec) {                   /* G[:, q H + u] += x W[q H + u, :]^T */
      int whole = u1 - u0 == H, n = whole ? G4 : u1 - u0;
      for (int q = 0; q < (whole ? 1 : 4); q++) {
        int c = q * H + u0;
        step_gemm(s, B, n, K, s->x, K, s->Wp ? NULL : s->W + c, G4, s->Wp ? s->Wp + (size_t)(c / GEMM_PANEL) * s->pstride : NULL,
                  1, s->G + c, G4);
      }
    }
    if (!s->r || !s->r->len) { cell_fwd(B, H, u0, u1, s->G, s->cp, s->cc, s->hc); continue; }
    for (int b = 0; b < B; b++) {
      size_t o = (size_t)b * H + u0, m = sizeof(float) * (size_t)(u1 - u0);
      if (!held(s, b))
        cell_fwd(1, H, u0, u1, s->G + (size_t)b * G4, s->cp + (size_t)b * H, s->cc + (size_t)b * H, s->hc + (size_t)b * H);
      else { memcpy(s->hc + o, s->hp + o, m); memcpy(s->cc + o, s->cp + o, m); }
    }
  }
}

/* dst[b, u0..u1) = the sum of the nb partials in part there, in block order. */
static void sum_parts(const Step *s, const float *part, int u0, int u1, float *dst) {
  const int B = s->B, K = s->K;
  const size_t BH = (size_t)B * K;
  for (int b = 0; b < B; b++) {
    float *d = dst + (size_t)b * K;
    const float *p = part + (size_t)b * K;
    for (int u = u0; u < u1; u++) d[u] = p[u];
    for (int m = 1; m < s->nb; m++)
      for (int u = u0; u < u1; u++) d[u] += p[m * BH + u];
  }
}

static void step_bwd(void *ctx, long lo, long hi) {
  const Step *s = ctx;
  const int B = s->B, H = s->H, K = s->K, G4 = 4 * H;
  const int len = s->r && s->r->len;
  for (long k = lo; k < hi; k++) {
    int u0, u1;
    units(s, k, &u0, &u1);
    if (s->prev) sum_parts(s, s->prev, u0, u1, s->dh);
    int all = 1;                    /* every row still running at t */
    for (int b = 0; b < B; b++) {
      size_t o = (size_t)b * H;
      if (held(s, b)) {
        all = 0;
        for (int q = 0; q < 4; q++) memset(s->dG + (size_t)b * G4 + q * H + u0, 0, sizeof(float) * (size_t)(u1 - u0));
        continue;
      }
      if (s->dout) for (int u = u0; u < u1; u++) s->dh[o + u] += s->dout[o + u];
      if (len)
        cell_bwd(1, H, u0, u1, s->G + (size_t)b * G4, s->cp + o, s->cc + o, s->dh + o, s->dc + o,
                 s->dG + (size_t)b * G4, s->dc + o);
    }
    if (!len) cell_bwd(B, H, u0, u1, s->G, s->cp, s->cc, s->dh, s->dc, s->dG, s->dc);
    /* part_k = dG[:, q H + u] W[q H + u, :] over this block's units */
    float *p = s->part + (size_t)k * B * K;
    int whole = u1 - u0 == H, n = whole ? G4 : u1 - u0;
    for (int q = 0; q < (whole ? 1 : 4); q++) {
      int c = q * H + u0;
      step_gemm(s, B, K, n, s->dG + c, G4, s->Wp ? NULL : s->W + (size_t)c * K, K, s->Wp ? s->Wp + (size_t)c * GEMM_PANEL : NULL,
                q > 0, p, K);
    }
    if (!all)                       /* held rows: dh_{t-1} = dh_t (K = H here) */
      for (int b = 0; b < B; b++)
        if (held(s, b))
          for (int u = u0; u < u1; u++) p[(size_t)b * H + u] += s->dh[(size_t)b * H + u];
  }
}

/* A whole layer's recurrence split by rows instead: block k of the batch's
** streams runs all T steps on one thread, every unit of its rows, so a
** layer is one job for the pool instead of one per step.  The streams of a
** batch never meet in a recurrence (only in the products over all T*B rows
** around it), so each row's numbers are those of one thread's whole-step
** path (nb = 1), whatever the blocks: the result does not depend on the
** thread count while OpenBLAS takes a block's product and one thread's whole
** step with the same kernel (up to 112 units; at 128-144 one thread's
** [20,H] x [H,4H] leaves the small-matrix kernels, so 1 thread differs from
** 2 and 3 in the last bits; gemm_rows, which takes the steps with the AVX2
** kernels, computes each row alone, so there the steps never depend on it,
** though OpenBLAS's Haswell products around them do).  The price is a
** product of half the rows per thread, which OpenBLAS runs slower unless its small-matrix kernels take it (SkylakeX,
** [10,H] x [H,4H] against [20,H] x [H,2H]: 1.09x the time at H = 100, 1.14x
** at 128, 2.5x at 160, where it leaves them).  Whole-process time of lm
** against the unit split, 2 threads, A/B pairs: SkylakeX 0.92 at H = 64, 0.88
** at 100, 0.94-0.95 at 128 and 144, 1.21 at 160 and 192, 1.27 at 256;
** Haswell 0.99 at 100, 1.06 at 128 and 144.  Hence up to 144 units with the
** AVX-512 kernels (the ones with small-matrix kernels in OpenBLAS 0.3) and
** 112 with others (lstm_row_maxh; the attention decoder, whose steps hold
** more than the product, keeps 112: attn_lm at d = 128 took 1.16 split by
** rows).  Wider recurrences whose steps read packed weights (gemm_panels_on)
** are split by rows too: gemm_rows_panels runs [10,256] x [256,1024] as fast
** as [20,256] x [256,1024], and the split saves two hand-offs and a sum of
** partials per step (Haswell, d = 256 on 2,000 Brown sentences, whole
** process, 2 threads, A/B pairs: lm 0.968, cond_lm 0.953, attn_lm 0.971).
** Not with a hook (--trace reads each step whole) or with fewer than ROW_MIN
** rows per block. */
#define ROW_MIN 4
int lstm_row_maxh(int H) {
  if (gemm_panels_on(H)) return H;
  return blas_kernel_level() >= 3 ? 144 : 112;   /* a look-up in a short table, once per layer and pass */
}
int lstm_row_blocks(int B, int H, int maxh, int hooked) {
  if (hooked || H > maxh || par_nested()) return 1;
  int n = par_threads();
  if (n > B / ROW_MIN) n = B / ROW_MIN;
  return n < 1 ? 1 : n;
}
static int row_blocks(const LstmRun *r) { return lstm_row_blocks(r->B, r->H, lstm_row_maxh(r->H), r->hook.fn != NULL); }

typedef struct Rec {
  const LstmRun *r;
  int back, n, l;                   /* 0: forward, 1: backward; n blocks (row_blocks); the layer */
  const float *W; int h0;           /* forward: W_hh^T; h0: start from a given state */
  const float *Wp;                  /* W in panels (gemm_pack), or NULL */
  float *G, *hs, *cs;               /* the layer's gates [T,B,4H], h and c [T+1,B,H] */
  float *y;                         /* forward, top layer: the outputs [T,B,H], or NULL */
  const float *dout;                /* backward: as lstm_seq_bwd's, and its buffers */
  float *dG, *dh, *dc, *part0, *part1, *dh2;
} Rec;

/* All T steps forward for rows [b0, b1), each step one job split by units
** (unit_blocks: 1 inside a row block's job, where it runs whole). */
static void rec_fwd(const Rec *c, int b0, int b1) {
  const LstmRun *r = c->r;
  const int T = r->T, B = r->B, H = r->H, G4 = 4 * H;
  const size_t BH = (size_t)B * H;
  for (int t = 0; t < T; t++) {
    float *hp = c->hs + t * BH + (size_t)b0 * H, *cp = c->cs + t * BH + (size_t)b0 * H;
    Step st = { .r = r, .b0 = b0, .B = b1 - b0, .H = H, .K = H, .t = t, .nb = unit_blocks(H),
                .rec = t > 0 || c->h0, .W = c->W, .Wp = c->Wp, .pstride = gemm_panels_stride(H), .x = hp,
                .G = c->G + ((size_t)t * B + b0) * G4, .cp = cp, .hp = hp, .cc = cp + BH, .hc = hp + BH };
    par_for(st.nb, 1, step_fwd, &st);
  }
  if (c->y)                         /* the outputs, by the thread that just wrote the rows */
    for (int t = 0; t < T; t++)
      for (int b = b0; b < b1; b++) {
        float *y = c->y + t * BH + (size_t)b * H;
        if (past_end(r, t, b)) memset(y, 0, sizeof(float) * H);
        else memcpy(y, c->hs + (t + 1) * BH + (size_t)b * H, sizeof(float) * H);
      }
}

/* All T steps backward for rows [b0, b1), ending with their dh_{-1} in dh.
** The hook (a trace: row_blocks is 1 then) sees each step's dh_{t-1} whole. */
static void rec_bwd(const Rec *c, int b0, int b1) {
  const LstmRun *r = c->r;
  const int T = r->T, B = r->B, H = r->H, G4 = 4 * H;
  const size_t BH = (size_t)B * H, o = (size_t)b0 * H;
  float *part[2] = { c->part0 + o, c->part1 + o };
  Step st = { .r = r, .b0 = b0, .B = b1 - b0, .H = H, .K = H, .nb = unit_blocks(H), .W = c->W,
              .Wp = c->Wp, .pstride = gemm_panels_stride(G4),
              .dh = c->dh + o, .dc = c->dc + o };
  for (int t = T - 1; t >= 0; t--) {
    st.t = t;                       /* step t+1's partials, while this step writes the other set */
    st.prev = t == T - 1 ? NULL : part[(t + 1) & 1];
    st.part = part[t & 1];
    st.G = c->G + ((size_t)t * B + b0) * G4;
    st.cp = c->cs + t * BH + o; st.cc = c->cs + (t + 1) * BH + o;
    st.dout = c->dout ? c->dout + t * BH + o : NULL;
    st.dG = c->dG + ((size_t)t * B + b0) * G4;
    par_for(st.nb, 1, step_bwd, &st);
    if (r->hook.fn) {
      sum_parts(&st, st.part, 0, H, c->dh2);
      BpttStep s = { r->hook.tag, c->l, t, B, H, 0, c->dh, st.dG, c->dc, c->dh2, H, NULL, 0 };
      r->hook.fn(r->hook.ctx, &s);
    }
  }
  sum_parts(&st, st.part, 0, H, st.dh);
}

/* Blocks [lo, hi) of c->n blocks of rows (one block: the whole batch, its
** steps split by units). */
static void rec_blocks(void *ctx, long lo, long hi) {
  const Rec *c = ctx;
  const int B = c->r->B, nb = c->n;
  for (long k = lo; k < hi; k++) {
    int b0 = (int)(B * k / nb), b1 = (int)(B * (k + 1) / nb);
    (c->back ? rec_bwd : rec_fwd)(c, b0, b1);
  }
}

int lstm_seq_fwd(LstmRun *r, Arena *a, Rng *rng, const float *x, const float *h0,
                 const float *c0, float *y, float *hN, float *cN) {
  const int T = r->T, B = r->B, H = r->H, L = r->L, G4 = 4 * H;
  const size_t BH = (size_t)B * H, TB = (size_t)T * B, TBH = TB * H;
  assert(T > 0 && B > 0 && H > 0 && L > 0 && r->D > 0);
  r->x = x;
  r->gates = arena_floats(a, (size_t)L * TB * G4);
  r->c = arena_floats(a, (size_t)L * (T + 1) * BH);
  r->h = arena_floats(a, (size_t)L * (T + 1) * BH);
  /* W_hh^T [H,4H] of the current layer, or its panels */
  float *WhhP = gemm_panels_on(H) ? arena_floats(a, (long)gemm_panels_floats(H, G4)) : NULL;
  float *WhhT = WhhP ? NULL : arena_floats(a, (size_t)H * G4);
  float *WihP = gemm_split_on() ? arena_floats(a, (long)gemm_panels_floats(widest_in(r), G4)) : NULL;   /* W_ih^T */
  r->mask = r->xin = NULL;
  if (dropping(r)) {
    r->mask = arena_floats(a, (size_t)(L - 1) * TBH);
    r->xin = arena_floats(a, (size_t)(L - 1) * TBH);
  }
  for (int l = 0; l < L; l++) {
    const LstmLayer *P = &r->layer[l];
    const int in = l ? H : r->D;
    float *G = r->gates + (size_t)l * TB * G4;
    float *hs = r->h + (size_t)l * (T + 1) * BH, *cs = r->c + (size_t)l * (T + 1) * BH;
    if (r->xin && l > 0) {            /* dropped copy of the layer below's outputs */
      float *m = r->mask + (size_t)(l - 1) * TBH, *xi = r->xin + (size_t)(l - 1) * TBH;
      const float *below = r->h + (size_t)(l - 1) * (T + 1) * BH + BH;
      seqk_drop_mask((long)TBH, r->p, rng, m);
      seqk_ew(SEQK_MASK, (long)TBH, below, m, NULL, xi);
    }
    /* All steps' input projections at once: G = X W_ih^T + b (from W_ih^T's
    ** panels, each sum started from b, with no pass over G first). */
    gemm_all_steps((int)TB, G4, in, layer_input(r, l), in, P->W_ih, in, 1, P->b, 0, WihP, G, G4);
    if (h0) memcpy(hs, h0 + l * BH, sizeof(float) * BH); else memset(hs, 0, sizeof(float) * BH);
    if (c0) memcpy(cs, c0 + l * BH, sizeof(float) * BH); else memset(cs, 0, sizeof(float) * BH);
    /* The step products take W_hh^T as a plain [H,4H] operand, copied once
    ** per layer: OpenBLAS 0.3.21 runs [20,H] x [H,4H] faster than
    ** [20,H] x [4H,H]^T at every width (lstm.h, lstm_step_fwd); or its
    ** panels, packed straight from W_hh, when the steps read those. */
    if (WhhP) gemm_pack(H, G4, P->W_hh, H, 1, WhhP);
    else transpose_to(G4, H, P->W_hh, WhhT, 0);
    Rec rc = { .r = r, .n = row_blocks(r), .l = l, .W = WhhT, .Wp = WhhP, .h0 = h0 != NULL, .G = G, .hs = hs,
               .cs = cs, .y = l == L - 1 ? y : NULL };
    par_for(rc.n, 1, rec_blocks, &rc);
    if (hN) memcpy(hN + l * BH, hs + T * BH, sizeof(float) * BH);
    if (cN) memcpy(cN + l * BH, cs + T * BH, sizeof(float) * BH);
  }
  return 0;
}

int lstm_seq_bwd(LstmRun *r, Arena *a, const float *dy, const float *dhN, const float *dcN,
                 float *dx, float *dh0, float *dc0) {
  const int T = r->T, B = r->B, H = r->H, L = r->L, G4 = 4 * H;
  const size_t BH = (size_t)B * H, TB = (size_t)T * B, TBH = TB * H;
  const int nb = unit_blocks(H);
  float *dG = arena_floats(a, TB * G4), *dbuf = arena_floats(a, TBH);
  float *dh = arena_floats(a, BH), *dh2 = arena_floats(a, BH), *dc = arena_floats(a, BH);
  float *part[2] = { arena_floats(a, (size_t)nb * BH), arena_floats(a, (size_t)nb * BH) };
  float *WP = gemm_panels_on(H) ? arena_floats(a, (long)gemm_panels_floats(G4, H)) : NULL;   /* W_hh in panels */
  float *WiP = gemm_split_on() ? arena_floats(a, (long)gemm_panels_floats(G4, widest_in(r))) : NULL;   /* W_ih */

  for (int l = L - 1; l >= 0; l--) {
    const LstmLayer *P = &r->layer[l];
    const int in = l ? H : r->D;
    const float *G = r->gates + (size_t)l * TB * G4;
    const float *hs = r->h + (size_t)l * (T + 1) * BH, *cs = r->c + (size_t)l * (T + 1) * BH;
    const float *dout = l == L - 1 ? dy : dbuf;      /* gradient w.r.t. this layer's outputs */
    if (dhN) memcpy(dh, dhN + l * BH, sizeof(float) * BH); else memset(dh, 0, sizeof(float) * BH);
    if (dcN) memcpy(dc, dcN + l * BH, sizeof(float) * BH); else memset(dc, 0, sizeof(float) * BH);
    if (WP) gemm_pack(G4, H, P->W_hh, H, 0, WP);
    Rec rc = { .r = r, .back = 1, .n = row_blocks(r), .l = l, .W = P->W_hh, .Wp = WP, .G = (float *)G,
               .hs = (float *)hs, .cs = (float *)cs, .dout = dout, .dG = dG, .dh = dh, .dc = dc,
               .part0 = part[0], .part1 = part[1], .dh2 = dh2 };
    par_for(rc.n, 1, rec_blocks, &rc);   /* ends with dh_{-1}, what reaches h0, in dh */
    if (dh0) for (size_t k = 0; k < BH; k++) dh0[l * BH + k] += dh[k];
    if (dc0) for (size_t k = 0; k < BH; k++) dc0[l * BH + k] += dc[k];
    /* Weight gradients over all T*B rows at once. */
    if (P->dW_hh)
      par_gemm(1, 0, G4, H, (int)TB, 1.0f,
                  dG, G4, hs, H, 1.0f, P->dW_hh, H);
    if (P->dW_ih)
      par_gemm(1, 0, G4, in, (int)TB, 1.0f,
                  dG, G4, layer_input(r, l), in, 1.0f, P->dW_ih, in);
    if (P->db) par_colsum(dG, (long)TB, G4, P->db);
    /* Input gradient: into dbuf for the layer below (through its dropout mask), or dx. */
    if (l > 0) {
      gemm_all_steps((int)TB, H, G4, dG, G4, P->W_ih, in, 0, NULL, 0, WiP, dbuf, H);
      if (r->mask) {
        seqk_ew(SEQK_MASK, (long)TBH, dbuf, r->mask + (size_t)(l - 1) * TBH, NULL, dbuf);
      }
    } else if (dx) {
      gemm_all_steps((int)TB, in, G4, dG, G4, P->W_ih, in, 0, NULL, 1, WiP, dx, in);
    }
  }
  return 0;
}

/* ---- one step on its own, for other recurrences (attn.c) -------------------- */

int lstm_step_blocks(int H) {          /* unit_blocks with every thread PAR_MAX allows */
  int nb = H / UNIT_MIN;
  return nb < 1 ? 1 : nb > PAR_MAX ? PAR_MAX : nb;
}

void lstm_step_fwd(int B, int H, int K, const float *x, const float *Wt, const float *Wp, float *gates,
                   const float *c_prev, float *c, float *h) {
  Step st = { .B = B, .H = H, .K = K, .nb = unit_blocks(H), .rec = 1, .W = Wt, .Wp = Wp,
              .pstride = gemm_panels_stride(K), .x = x, .G = gates, .cp = c_prev, .cc = c, .hc = h };
  par_for(st.nb, 1, step_fwd, &st);
}

void lstm_step_bwd(int B, int H, int K, const float *gates, const float *c_prev, const float *c,
                   float *dh, float *dc, const float *W, const float *Wp, float *dgates, float *part,
                   float *dx) {
  Step st = { .B = B, .H = H, .K = K, .nb = unit_blocks(H), .W = W, .Wp = Wp, .pstride = gemm_panels_stride(4 * H),
              .G = (float *)gates, .cp = c_prev, .cc = (float *)c, .dh = dh, .dc = dc, .dG = dgates,
              .part = part };
  par_for(st.nb, 1, step_bwd, &st);
  sum_parts(&st, part, 0, K, dx);
}
