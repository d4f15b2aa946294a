/*
** lstm.h — fused LSTM kernels (the fast path behind the `lstm` block).
**
** Layout follows PyTorch so that numbers can be compared: gates in the order
** i, f, g, o; W_ih is [4H, in], W_hh is [4H, H]; one bias of [4H] (PyTorch's
** b_ih + b_hh folded into one).  All arrays are row-major float32.
*/
#ifndef GR_LSTM_H
#define GR_LSTM_H
#include "tensor.h"

/* One cell step for B rows.
** gates: [B,4H] holding the pre-activations x W_ih^T + h W_hh^T + b on entry;
**        overwritten with the activated gates (sigmoid i, f, o; tanh g),
**        which is what lstm_cell_bwd needs.
** c_prev: [B,H]; writes c = f*c_prev + i*g and h = o*tanh(c), both [B,H]. */
void lstm_cell_fwd(int B, int H, float *gates, const float *c_prev, float *c, float *h);

/* Backward of one cell step.
** gates: the activated gates saved by lstm_cell_fwd; c_prev, c as there.
** dh, dc: gradients w.r.t. this step's h and c (dc may be NULL = zero).
** Writes dgates [B,4H] (w.r.t. the pre-activations) and dc_prev [B,H]. */
void lstm_cell_bwd(int B, int H, const float *gates, const float *c_prev, const float *c,
                   const float *dh, const float *dc, float *dgates, float *dc_prev);

/* ---- multi-layer LSTM over a sequence ------------------------------------
**
** Time-major: x [T,B,D] -> y [T,B,H] (top layer).  States h0, c0, hN, cN are
** [L,B,H].  Layer l reads x (l = 0) or layer l-1's outputs, with inverted
** dropout (keep with probability 1-p, scale 1/(1-p)) on the inputs of layers
** 1..L-1 when training -- the same place torch.nn.LSTM(dropout=p) puts it.
**
** Optional lengths (padded sources, like pack_padded_sequence): for
** t >= len[b] row b's state is held unchanged and its output is 0, so hN, cN
** are the state after the row's last real token.  Lengths are clamped to
** [0,T].
**
** Cost by construction, per layer: one sgemm for all T steps' input
** projections ([T*B,in] x W_ih^T), then the recurrence.  Up to 112 units
** (lstm.c's ROW_MAXH) and with 4 or more streams per thread it is one job
** for the pool: each thread runs all T steps, cell and product, of its own
** block of the batch's streams.  Otherwise one job per step: each thread
** takes a block of hidden units, multiplies h_{t-1} by their columns of
** W_hh^T and runs the cell on them; backward, one job per step (the cell
** backward of a block and its share of dh_prev = dG W_hh, added up by the
** next step).  After the loop one sgemm each for dW_ih, dW_hh and the input
** gradient.
** No malloc: all workspace comes from an Arena the caller sizes with
** lstm_fwd_bytes / lstm_bwd_bytes.
*/

/* One layer's weights and the gradient buffers backward adds into.
** in = D for layer 0, H above.  Gradient pointers may be NULL (skipped). */
typedef struct LstmLayer {
  const float *W_ih;          /* [4H, in] */
  const float *W_hh;          /* [4H, H]  */
  const float *b;             /* [4H]     */
  float *dW_ih, *dW_hh, *db;  /* same shapes; added into */
} LstmLayer;

/* One forward pass and what backward needs from it.
** The caller fills the first block; lstm_seq_fwd fills the second (arena
** memory: valid until the arena is reset). */
typedef struct LstmRun {
  int T, B, D, H, L;          /* steps, rows, input width, hidden, layers */
  const LstmLayer *layer;     /* [L] */
  const int *len;             /* [B] real lengths, or NULL: all rows T long */
  float p;                    /* dropout between layers, in [0,1] */
  int training;               /* dropout only when set */
  BpttHook hook;              /* lstm_seq_bwd calls hook.fn per layer and step, if set */

  const float *x;             /* the forward's input, kept for dW_ih (not copied) */
  float *gates;               /* [L][T][B][4H] activated gates             */
  float *c, *h;               /* [L][T+1][B][H]: index 0 = c0/h0, t+1 = after step t */
  float *mask;                /* [L-1][T][B][H] dropout masks (0 or 1/(1-p)), or NULL */
  float *xin;                 /* [L-1][T][B][H] dropped inputs of layers 1.., or NULL */
} LstmRun;

/* Arena bytes lstm_seq_fwd / lstm_seq_bwd will take for this run's sizes
** (including alignment), so callers can size an arena up front. */
size_t lstm_fwd_bytes(const LstmRun *r);
size_t lstm_bwd_bytes(const LstmRun *r);

/* Forward.  x [T,B,D] must stay valid until lstm_seq_bwd.  h0, c0 may be
** NULL (zeros); y, hN, cN may be NULL (not written).  rng is used only when
** training with p > 0 and L > 1 (may be NULL otherwise).
** Returns 0 (the arena never runs out: like xmalloc, it exits on out-of-memory). */
int lstm_seq_fwd(LstmRun *r, Arena *a, Rng *rng, const float *x, const float *h0,
                 const float *c0, float *y, float *hN, float *cN);

/* Backward of the last lstm_seq_fwd on r.  dy [T,B,H], dhN, dcN [L,B,H] may
** each be NULL (zero).  Adds into dx [T,B,D], dh0, dc0 [L,B,H] (each may be
** NULL: not computed) and into the layers' dW_ih, dW_hh, db.  dy at padded
** positions is ignored (those outputs are constant 0).
** Returns 0, as lstm_seq_fwd. */
int lstm_seq_bwd(LstmRun *r, Arena *a, const float *dy, const float *dhN, const float *dcN,
                 float *dx, float *dh0, float *dc0);

/* ---- one step of another recurrence ----------------------------------------
**
** For recurrences that build the cell's input themselves (attn.c's decoder:
** [input ; h_{t-1}] per step).  Both split the step over the pool by blocks
** of hidden units, one job each (called inside a pool job: whole steps).
**
** lstm_step_fwd: gates [B,4H] holds what is already known of the
** pre-activations; adds x W^T (x [B,K], Wt = W^T [K,4H]: OpenBLAS 0.3.21
** runs this untransposed product faster than x against W [4H,K] read
** transposed at every H from 64 to 1024, 1.1-3x with its SkylakeX kernels,
** up to 1.4x with Haswell's, bench/RESULTS.md), then runs
** lstm_cell_fwd.  lstm_step_bwd: lstm_cell_bwd (dc_prev written over dc;
** dh is not changed), then dx [B,K] = dgates W.  part is workspace of
** lstm_step_blocks(H) * B * K floats: the most blocks a step is split into,
** whatever the number of threads.  Wp: the same matrix (Wt, W) in
** gemm_pack's panels, read instead of it by gemm_rows_panels (only when
** gemm_panels_on(H)), or NULL; with Wp, Wt or W may be NULL. */
int  lstm_step_blocks(int H);
/* How many blocks of a batch's B streams a recurrence of H units is split
** into, one per thread, each running all its steps (1: split each step by
** units instead).  1 with a hook (a trace reads each step whole), above maxh
** units (half the rows make OpenBLAS's step products too slow: lstm.c), with
** fewer than 4 streams per block, or inside a pool job.  lstm_row_maxh(H)
** is the LSTM's limit for H units: H itself when the steps read packed
** weights (gemm_panels_on(H)), else 144 or 112 by the OpenBLAS kernel. */
int  lstm_row_blocks(int B, int H, int maxh, int hooked);
int  lstm_row_maxh(int H);
void lstm_step_fwd(int B, int H, int K, const float *x, const float *Wt, const float *Wp, float *gates,
                   const float *c_prev, float *c, float *h);
void lstm_step_bwd(int B, int H, int K, const float *gates, const float *c_prev, const float *c,
                   float *dh, float *dc, const float *W, const float *Wp, float *dgates, float *part,
                   float *dx);

#endif
