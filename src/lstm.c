/*
** lstm.c — fused LSTM kernels: one cell step forward/backward, and a
** multi-layer LSTM over a whole time-major sequence.
**
** Products go to OpenBLAS through par.h's par_gemm (split over the cores); everything elementwise is one fused
** pass per step.  Gate order and weight layout follow PyTorch (see lstm.h),
** so numbers can be compared with torch.nn.LSTM directly.
*/
#include <math.h>
#include <string.h>
#include <assert.h>
#include "lstm.h"
#include "par.h"
#include "seqk.h"

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

/* Contract in lstm.h.  Row b of gates is [i | f | g | o], each H wide.
** c may alias c_prev (state updated in place). */
SEQK_CLONES void lstm_cell_fwd(int B, int H, float *gates, const float *c_prev, float *c, float *h) {
  for (int b = 0; b < B; b++) {
    float *gr = gates + (size_t)b * 4 * H;
    const float *cpr = c_prev + (size_t)b * H;
    float *cr = c + (size_t)b * H, *hr = h + (size_t)b * H;
    for (int j0 = 0; j0 < H; j0 += CH) {
      int n = H - j0 < CH ? H - j0 : CH;
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

/* Contract in lstm.h.  With tc = tanh(c) and dC = dc + dh*o*(1-tc^2):
**   do = dh*tc*o(1-o),  di = dC*g*i(1-i),  df = dC*c_prev*f(1-f),
**   dg = dC*i*(1-g^2),  dc_prev = dC*f.
** dgates may not alias gates; dc_prev may alias dc. */
SEQK_CLONES void lstm_cell_bwd(int B, int H, const float *gates, const float *c_prev, const float *c,
                   const float *dh, const float *dc, float *dgates, float *dc_prev) {
  for (int b = 0; b < B; b++) {
    const float *gr = gates + (size_t)b * 4 * H;
    float *dgr = dgates + (size_t)b * 4 * H;
    const float *cpr = c_prev + (size_t)b * H, *cr = c + (size_t)b * H, *dhr = dh + (size_t)b * H;
    const float *dcr = dc ? dc + (size_t)b * H : NULL;
    float *dcpr = dc_prev + (size_t)b * H;
    for (int j0 = 0; j0 < H; j0 += CH) {
      int n = H - j0 < CH ? H - j0 : CH;
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

/* ---- multi-layer LSTM over a sequence ------------------------------------ */

#define LSTM_NN_MAXH 200   /* see the step loop of lstm_seq_fwd */

/* Bytes arena_alloc takes for n floats (it aligns every block to 64). */
static size_t fbytes(size_t n) { return (n * sizeof(float) + 63) & ~(size_t)63; }

static int dropping(const LstmRun *r) { return r->training && r->p > 0.0f && r->L > 1; }

/* Real length of row b (clamped to [0,T]); T when there are no lengths. */
static inline int row_len(const LstmRun *r, int b) {
  if (!r->len) return r->T;
  int n = r->len[b];
  return n < 0 ? 0 : n > r->T ? r->T : n;
}

size_t lstm_fwd_bytes(const LstmRun *r) {
  size_t T = (size_t)r->T, B = (size_t)r->B, H = (size_t)r->H, L = (size_t)r->L;
  size_t n = fbytes(L * T * B * 4 * H) + 2 * fbytes(L * (T + 1) * B * H) + fbytes(4 * H * H);
  if (dropping(r)) n += 2 * fbytes((L - 1) * T * B * H);
  return n;
}

size_t lstm_bwd_bytes(const LstmRun *r) {
  size_t T = (size_t)r->T, B = (size_t)r->B, H = (size_t)r->H;
  return fbytes(T * B * 4 * H) + fbytes(T * B * H) + 3 * fbytes(B * H);
}


/* Input rows [T*B, in] that layer l reads. */
static const float *layer_input(const LstmRun *r, int l) {
  size_t TBH = (size_t)r->T * r->B * r->H, BH = (size_t)r->B * r->H;
  if (l == 0) return r->x;
  if (r->xin) return r->xin + (size_t)(l - 1) * TBH;
  return r->h + (size_t)(l - 1) * (r->T + 1) * BH + BH;   /* outputs of layer l-1 */
}

/* One time step of the cell over rows [lo, hi) of the batch: the step loops
** split the B rows over the thread pool.  Rows past their length (r->len)
** hold their state going forward and get no gradient going back. */
typedef struct CellStep {
  const LstmRun *r;
  int t;
  float *G;                          /* the step's gates [B,4H] (activated in place) */
  const float *cp;                   /* c_{t-1} */
  float *cc, *hc;                    /* c_t, h_t */
  const float *hp;                   /* h_{t-1} (forward: held rows copy it) */
  const float *dout;                 /* backward: gradient from above at t, or NULL */
  float *dh, *dc, *dG;               /* backward: running dh, dc; the step's dgates */
} CellStep;

static long cell_grain(int H) { return H >= 2048 ? 1 : 2048 / H; }

static void cell_fwd_rows(void *ctx, long lo, long hi) {
  const CellStep *s = ctx;
  const int H = s->r->H;
  const size_t G4 = 4 * (size_t)H;
  if (!s->r->len) {
    lstm_cell_fwd((int)(hi - lo), H, s->G + lo * G4, s->cp + lo * H, s->cc + lo * H, s->hc + lo * H);
    return;
  }
  for (long b = lo; b < hi; b++) {
    size_t o = (size_t)b * H;
    if (s->t < row_len(s->r, (int)b)) lstm_cell_fwd(1, H, s->G + b * G4, s->cp + o, s->cc + o, s->hc + o);
    else { memcpy(s->hc + o, s->hp + o, sizeof(float) * H); memcpy(s->cc + o, s->cp + o, sizeof(float) * H); }
  }
}

static void cell_bwd_rows(void *ctx, long lo, long hi) {
  const CellStep *s = ctx;
  const int H = s->r->H;
  const size_t G4 = 4 * (size_t)H;
  for (long b = lo; b < hi; b++) {
    size_t o = (size_t)b * H;
    if (s->r->len && s->t >= row_len(s->r, (int)b)) { memset(s->dG + b * G4, 0, sizeof(float) * G4); continue; }
    if (s->dout) for (int j = 0; j < H; j++) s->dh[o + j] += s->dout[o + j];
  }
  if (!s->r->len) {
    lstm_cell_bwd((int)(hi - lo), H, s->G + lo * G4, s->cp + lo * H, s->cc + lo * H,
                  s->dh + lo * H, s->dc + lo * H, s->dG + lo * G4, s->dc + lo * H);
    return;
  }
  for (long b = lo; b < hi; b++) {
    size_t o = (size_t)b * H;
    if (s->t < row_len(s->r, (int)b))
      lstm_cell_bwd(1, H, s->G + b * G4, s->cp + o, s->cc + o, s->dh + o, s->dc + o, s->dG + b * G4, s->dc + o);
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
  float *WhhT = arena_floats(a, (size_t)H * G4);     /* W_hh^T [H,4H] of the current layer */
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
      for (size_t k = 0; k < TBH; k++) xi[k] = below[k] * m[k];
    }
    /* All steps' input projections at once: G = X W_ih^T + b. */
    fill_rows(G, (long)TB, P->b, G4);
    par_gemm(0, 1, (int)TB, G4, in, 1.0f,
                layer_input(r, l), in, P->W_ih, in, 1.0f, G, G4);
    if (h0) memcpy(hs, h0 + l * BH, sizeof(float) * BH); else memset(hs, 0, sizeof(float) * BH);
    if (c0) memcpy(cs, c0 + l * BH, sizeof(float) * BH); else memset(cs, 0, sizeof(float) * BH);
    /* Up to H = LSTM_NN_MAXH the step products take W_hh^T as a plain
    ** [H,4H] operand, copied once per layer: OpenBLAS 0.3.21 runs
    ** [20,H] x [H,4H] up to 2x faster untransposed (small-matrix kernels),
    ** while at H = 256 the transposed call is faster (bench/lstm_bench.c). */
    int nn = H <= LSTM_NN_MAXH;
    if (nn)
      for (int k = 0; k < G4; k++)
        for (int j = 0; j < H; j++) WhhT[(size_t)j * G4 + k] = P->W_hh[(size_t)k * H + j];
    for (int t = 0; t < T; t++) {
      float *Gt = G + (size_t)t * B * G4;
      float *hp = hs + t * BH, *cp = cs + t * BH, *hc = hp + BH, *cc = cp + BH;
      if ((t > 0 || h0) && nn)
        par_gemm(0, 0, B, G4, H, 1.0f,
                    hp, H, WhhT, G4, 1.0f, Gt, G4);
      else if (t > 0 || h0)
        par_gemm(0, 1, B, G4, H, 1.0f,
                    hp, H, P->W_hh, H, 1.0f, Gt, G4);
      CellStep st = { r, t, Gt, cp, cc, hc, hp, NULL, NULL, NULL, NULL };
      par_for(B, cell_grain(H), cell_fwd_rows, &st);
    }
    if (hN) memcpy(hN + l * BH, hs + T * BH, sizeof(float) * BH);
    if (cN) memcpy(cN + l * BH, cs + T * BH, sizeof(float) * BH);
  }
  if (y) {
    const float *top = r->h + (size_t)(L - 1) * (T + 1) * BH + BH;
    memcpy(y, top, sizeof(float) * TBH);
    if (r->len)
      for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
          if (t >= row_len(r, b)) memset(y + t * BH + (size_t)b * H, 0, sizeof(float) * H);
  }
  return 0;
}

int lstm_seq_bwd(LstmRun *r, Arena *a, const float *dy, const float *dhN, const float *dcN,
                 float *dx, float *dh0, float *dc0) {
  const int T = r->T, B = r->B, H = r->H, L = r->L, G4 = 4 * H;
  const size_t BH = (size_t)B * H, TB = (size_t)T * B, TBH = TB * H;
  float *dG = arena_floats(a, TB * G4), *dbuf = arena_floats(a, TBH);
  float *dh = arena_floats(a, BH), *dh2 = arena_floats(a, BH), *dc = arena_floats(a, BH);

  for (int l = L - 1; l >= 0; l--) {
    const LstmLayer *P = &r->layer[l];
    const int in = l ? H : r->D;
    const float *G = r->gates + (size_t)l * TB * G4;
    const float *hs = r->h + (size_t)l * (T + 1) * BH, *cs = r->c + (size_t)l * (T + 1) * BH;
    const float *dout = l == L - 1 ? dy : dbuf;      /* gradient w.r.t. this layer's outputs */
    if (dhN) memcpy(dh, dhN + l * BH, sizeof(float) * BH); else memset(dh, 0, sizeof(float) * BH);
    if (dcN) memcpy(dc, dcN + l * BH, sizeof(float) * BH); else memset(dc, 0, sizeof(float) * BH);
    for (int t = T - 1; t >= 0; t--) {
      const float *Gt = G + (size_t)t * B * G4, *cp = cs + t * BH, *cc = cp + BH;
      float *dGt = dG + (size_t)t * B * G4;
      CellStep st = { r, t, (float *)Gt, cp, (float *)cc, NULL, NULL,
                      dout ? dout + t * BH : NULL, dh, dc, dGt };
      par_for(B, cell_grain(H), cell_bwd_rows, &st);
      /* dh_prev = dG_t W_hh; held rows pass dh through unchanged. */
      par_gemm(0, 0, B, H, G4, 1.0f,
                  dGt, G4, P->W_hh, H, 0.0f, dh2, H);
      if (r->len)
        for (int b = 0; b < B; b++)
          if (t >= row_len(r, b)) memcpy(dh2 + (size_t)b * H, dh + (size_t)b * H, sizeof(float) * H);
      if (r->hook.fn) {
        BpttStep s = { r->hook.tag, l, t, B, H, 0, dh, dGt, dc, dh2, H, NULL, 0 };
        r->hook.fn(r->hook.ctx, &s);
      }
      float *sw = dh; dh = dh2; dh2 = sw;
    }
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
      par_gemm(0, 0, (int)TB, H, G4, 1.0f,
                  dG, G4, P->W_ih, in, 0.0f, dbuf, H);
      if (r->mask) {
        const float *m = r->mask + (size_t)(l - 1) * TBH;
        for (size_t k = 0; k < TBH; k++) dbuf[k] *= m[k];
      }
    } else if (dx) {
      par_gemm(0, 0, (int)TB, in, G4, 1.0f,
                  dG, G4, P->W_ih, in, 1.0f, dx, in);
    }
  }
  return 0;
}
