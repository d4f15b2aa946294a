/*
** tfm.h — fused Transformer kernels (the fast path behind a `transformer`
** block): layer normalization, causal multi-head attention, and whole
** pre-LN decoder layers over a time-major batch.
**
** One layer, on rows x [T,B,d] (row t*B + b is step t of stream b):
**   x1 = x  + drop(W_o concat_h(softmax(mask(q_h k_h^T / sqrt(dh))) v_h) + b_o)
**   y  = x1 + drop(W_2 relu(W_1 LN2(x1) + b_1) + b_2)
** where q, k, v = LN1(x) W_qkv^T + b_qkv, d = H * dh, and the mask lets step
** t of a stream see its steps 0..t only.  Layouts follow PyTorch, so numbers
** can be compared with torch.nn modules directly: W_qkv [3d, d] stacks the
** q, k and v projections (nn.Linear(d, 3d) split in three), head h owns
** columns h*dh .. h*dh+dh-1 of each of q, k, v; LayerNorm is over the last
** dimension with a biased variance and eps inside the square root.
**
** Cost by construction, per layer: four sgemms for all T*B rows at once
** (qkv, W_o, W_1, W_2), three small ones per (stream, head) for attention;
** backward twice that.  Rows, heads and column sums are split over the
** thread pool (par.h).  No malloc: workspace comes from an Arena.
*/
#ifndef GR_TFM_H
#define GR_TFM_H
#include "tensor.h"

/* ---- layer normalization ----------------------------------------------------- */

/* y[r,:] = (x[r,:] - mean_r) * rstd_r * g + b for r < N, with
** rstd_r = 1/sqrt(var_r + eps) (biased variance).  mean, rstd [N] receive
** what tfm_ln_bwd needs (either may be NULL).  y may alias x. */
void tfm_ln_fwd(long N, int d, const float *x, const float *g, const float *b, float eps,
                float *y, float *mean, float *rstd);

/* Backward of tfm_ln_fwd from dy [N,d]: adds into dx [N,d], dg and db [d]
** (each may be NULL).  x, mean, rstd as given to / written by the forward.
** Takes N*d floats of scratch from the arena when dg is wanted. */
void tfm_ln_bwd(long N, int d, const float *x, const float *g, const float *mean, const float *rstd,
                const float *dy, float *dx, float *dg, float *db, Arena *a);

/* ---- causal attention ------------------------------------------------------- */

/* Row t of a [T,T] score matrix, in place: softmax over columns 0..t,
** columns t+1..T-1 set to 0.  The primitive causal_softmax uses the same. */
void tfm_causal_softmax_row(int T, int t, float *row);

/* Multi-head causal attention over qkv [T,B,3d] (each row q | k | v):
** for each stream b and head h, P = causal_softmax(Q K^T / sqrt(dh)) into
** P [B,H,T,T], and out[:, b, h*dh..] = P V, out [T,B,d]. */
void tfm_attn_fwd(int T, int B, int H, int dh, const float *qkv, float *P, float *out);

/* Backward of tfm_attn_fwd: from dout [T,B,d] writes dqkv [T,B,3d].
** scratch: B*H*T*T floats. */
void tfm_attn_bwd(int T, int B, int H, int dh, const float *qkv, const float *P,
                  const float *dout, float *dqkv, float *scratch);

/* ---- decoder layers ---------------------------------------------------------- */

/* A layer's parameters, in this order (TFM_NW of them). */
enum { TFM_LN1_G, TFM_LN1_B, TFM_WQKV, TFM_BQKV, TFM_WO, TFM_BO,
       TFM_LN2_G, TFM_LN2_B, TFM_W1, TFM_B1, TFM_W2, TFM_B2, TFM_NW };
/* Shape of parameter k for model width d and FFN width F: rows and
** columns (columns 0 for a vector). */
void tfm_param_shape(int k, int d, int F, int *rows, int *cols);
extern const char *const tfm_param_name[TFM_NW];   /* "ln1_g", "W_qkv", ... */

/* Weights and the gradient buffers backward adds into (dw[k] may be NULL:
** skipped). */
typedef struct TfmLayer {
  const float *w[TFM_NW];
  float *dw[TFM_NW];
} TfmLayer;

/* One forward pass over L layers and what backward needs from it.  The
** caller fills the first block; tfm_seq_fwd fills the rest (arena memory,
** valid until the arena is reset). */
typedef struct TfmRun {
  int T, B, d, H, F, L;       /* steps, streams, width, heads, FFN width, layers */
  const TfmLayer *layer;      /* [L] */
  float p;                    /* dropout on both residual branches */
  float eps;                  /* layer norm eps (PyTorch: 1e-5) */
  int training;               /* dropout only when set */

  const float *x;             /* the forward's input [T,B,d] (not copied) */
  float *xs;                  /* [L][N,d] each layer's output (N = T*B) */
  float *x1;                  /* [L][N,d] the stream after attention */
  float *n1, *n2;             /* [L][N,d] LN1(x), LN2(x1) */
  float *st;                  /* [L][4][N] mean1, rstd1, mean2, rstd2 */
  float *qkv;                 /* [L][N,3d] */
  float *P;                   /* [L][B,H,T,T] attention weights */
  float *att;                 /* [L][N,d] concatenated heads, before W_o */
  float *hid;                 /* [L][N,F] relu(W_1 LN2(x1) + b_1) */
  float *mask;                /* [L][2][N,d] dropout masks, or NULL */
} TfmRun;

/* Forward: y [T,B,d] = the last layer's output.  x must stay valid until
** tfm_seq_bwd.  rng is used only when training with p > 0.  Returns 0
** (the arena exits on out-of-memory, like xmalloc). */
int tfm_seq_fwd(TfmRun *r, Arena *a, Rng *rng, const float *x, float *y);

/* Backward of the last tfm_seq_fwd on r: from dy [T,B,d] adds into dx
** (may be NULL) and the layers' dw.  Returns 0. */
int tfm_seq_bwd(TfmRun *r, Arena *a, const float *dy, float *dx);

/* Attention weights of layer l, stream b, head h: the [T,T] matrix whose
** row t says how much step t took from each earlier step (after a forward). */
const float *tfm_attention(const TfmRun *r, int l, int b, int h);

#endif
