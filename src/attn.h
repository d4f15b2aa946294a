/*
** attn.h — Luong "general" attention with input feeding (the fast path
** behind the `attn` decoder block): one attention step, and a whole
** multi-layer LSTM decoder over T steps fused into one forward/backward.
**
** Layouts follow bench/torch_ref.py (mode attn) so numbers compare with PyTorch:
** memory is time-major [S,B,H] (the encoder's top-layer outputs); the score
** of source position j for row b is mem[j,b] . (W_in q_b); positions
** j >= len[b] are masked (weight exactly 0); the context is the weighted sum
** of memory rows; the attentional output is h~ = tanh(W_c [c ; q]) with
** W_c [H,2H] and no biases.  All arrays are row-major float32.
**
** Gradient convention, as everywhere in graphrun: every gradient output is
** accumulated (+=), never overwritten, so callers zero them once.
*/
#ifndef GR_ATTN_H
#define GR_ATTN_H
#include <stddef.h>
#include "tensor.h"

/* ---- one attention step ------------------------------------------------- */

/* Forward of one step for B rows.
** mem [S,B,H], len [B] (values clamped to 0..S; a row with length 0 gets
** all-zero weights and a zero context), W_in [H,H], W_c [H,2H].
** cq [B,2H]: on entry its right half cq[b][H..2H) holds the query q_b; the
**   step writes the context c_b into the left half, so cq is the [c ; q]
**   the output layer reads.
** Writes qin [B,H] = q W_in^T, w [B,S] the attention weights, ht [B,H] = h~.
** cq, qin, w and ht are what attn_step_bwd needs. */
void attn_step_fwd(int B, int S, int H, const float *mem, const int *len,
                   const float *W_in, const float *W_c,
                   float *cq, float *qin, float *w, float *ht);

/* Floats of scratch attn_step_bwd needs: B*(4H+S). */
size_t attn_step_scratch(int B, int S, int H);

/* Backward of one step from dht [B,H] (the gradient w.r.t. h~).
** Arguments as saved by attn_step_fwd.  Accumulates dq [B,H], dmem [S,B,H],
** dW_in [H,H], dW_c [H,2H]; any of dmem, dW_in, dW_c may be NULL (not
** wanted).  scratch: attn_step_scratch(B,S,H) floats, contents ignored. */
void attn_step_bwd(int B, int S, int H, const float *mem, const int *len,
                   const float *W_in, const float *W_c,
                   const float *cq, const float *qin, const float *w, const float *ht,
                   const float *dht, float *dq, float *dmem, float *dW_in, float *dW_c,
                   float *scratch);

/* ---- the input-feeding decoder ------------------------------------------ */

/* One LSTM layer of the decoder: PyTorch layout and gate order i, f, g, o.
** W_ih [4H, in_l] with in_0 = E+H (the input is [embedding ; feed]) and
** in_l = H above; W_hh [4H,H]; b [4H] (PyTorch's b_ih + b_hh).  Gradient
** pointers may be NULL (that parameter gets no gradient). */
typedef struct AttnCell {
  const float *W_ih, *W_hh, *b;
  float *dW_ih, *dW_hh, *db;
} AttnCell;

/* All decoder parameters: L cells, then linear_in W_in [H,H] and
** linear_out W_c [H,2H].  Gradient pointers may be NULL. */
typedef struct AttnParams {
  const AttnCell *cell;           /* [L] */
  const float *W_in, *W_c;
  float *dW_in, *dW_c;
} AttnParams;

/* One call's sizes, inputs, outputs and gradients.  The caller fills it;
** attn_decoder_fwd reads the inputs and writes the outputs; attn_decoder_bwd
** reads inputs, outputs and the workspace again, so none may change between
** the two.  Pointers marked "may be NULL" mean zeros (inputs, upstream
** gradients) or "not wanted" (outputs, gradients). */
typedef struct AttnDec {
  int T, B, S, E, H, L;           /* steps, rows, source length, embedding, hidden, layers */
  /* inputs */
  const float *e;                 /* [T,B,E] target embeddings (already dropped out)   */
  const float *mem;               /* [S,B,H] encoder top-layer outputs, time-major      */
  const int *len;                 /* [B] source lengths (clamped to 0..S)               */
  const float *h0, *c0;           /* [L,B,H] initial state, may be NULL                 */
  const float *feed0;             /* [B,H] h~ of the step before the first, may be NULL */
  const float *drop;              /* [L-1,T,B,H] multipliers (0 or 1/(1-p)) applied to
                                     the inputs of layers 1..L-1; NULL = no dropout     */
  /* outputs */
  float *out;                     /* [T,B,H] h~ of every step (required)                */
  float *hN, *cN;                 /* [L,B,H] final state, may be NULL                   */
  float *feedN;                   /* [B,H] last h~, may be NULL                         */
  /* gradients for attn_decoder_bwd: upstream (read) ... */
  const float *dout;              /* [T,B,H] required                                   */
  const float *dhN, *dcN;         /* [L,B,H] may be NULL                                */
  const float *dfeedN;            /* [B,H] may be NULL                                  */
  /* ... and accumulated into; each may be NULL */
  float *de, *dmem, *dh0, *dc0, *dfeed0;
  BpttHook hook;                  /* attn_decoder_bwd calls hook.fn per step: the
                                     attention (layer -1), then each cell; may be unset */
} AttnDec;

/* Bytes of workspace attn_decoder_fwd/bwd need for d's sizes (only the six
** sizes are read).  0 if a size is out of range (T, L >= 1 and B, S, E, H
** >= 1 are required) or the total overflows. */
size_t attn_decoder_ws_bytes(const AttnDec *d);

/* Runs the decoder forward over T steps: per step, every layer's cell on
** [x ; h] with one sgemm (layer 0's embedding part for all steps in one
** sgemm up front), then attention on the top layer's h, then h~ fed to the
** next step.  ws: attn_decoder_ws_bytes(d) bytes, float-aligned (64-byte
** aligned, as from arena_alloc, is fastest); it keeps what backward needs
** and the attention weights. */
void attn_decoder_fwd(const AttnDec *d, const AttnParams *p, void *ws);

/* Backward through the whole decoder from d->dout (+ dhN, dcN, dfeedN).
** Needs the ws of the matching forward.  Accumulates de, dmem, dh0, dc0,
** dfeed0 and every parameter gradient; the weight gradients are taken in a
** few large sgemms over all T*B rows after the step loop. */
void attn_decoder_bwd(const AttnDec *d, const AttnParams *p, void *ws);

/* Where the workspace keeps each step ([L][T] arrays are layer-major, then
** step): what --trace reads after a forward and backward. */
typedef struct AttnTape {
  float *Wcat;   /* [L][4H,2H]  [W_ih (feed part for layer 0) | W_hh] joined (NULL with WcatP) */
  float *WcatT;  /* [L][2H,4H]  its transpose, for the forward steps (NULL with WcatTP) */
  float *WinT;   /* [H,H]        W_in's and W_c's transposes, for the forward */
  float *WcT;    /* [2H,H]       steps when gemm_rows takes them (else NULL) */
  float *WcatTP; /* [L][8H^2]    WcatT and Wcat in gemm_pack's panels (packed from W_ih and */
  float *WcatP;  /* [L][8H^2]    W_hh), for the steps when gemm_panels_on(H) (else NULL) */
  float *WinTP;  /* [H^2]        and so W_in^T, W_c^T (forward), W_in, W_c */
  float *WcTP;   /* [2H^2]       (backward) */
  float *WinP;   /* [H^2] */
  float *WcP;    /* [2H^2] */
  float *WeP;    /* layer 0's embedding columns of W_ih in panels, for the
                    all-steps products when gemm_split_on() (else NULL) */
  float *G;      /* [L][T][B,4H] gates: pre-activations, then activated */
  float *XH;     /* [L][T][B,2H] each cell's input [x ; h_prev] (layer 0:
                    x is the fed h~ of the step before; the embedding is d->e) */
  float *C;      /* [L][T][B,H]  cell states */
  float *CQ;     /* [T][B,2H]    [context ; query] */
  float *QIN;    /* [T][B,H]     W_in q */
  float *W;      /* [T][B,S]     attention weights */
  float *zero;   /* [B,H]        zeros (a missing c0) */
  float *hbuf;   /* [B,H]        a cell's h before it is distributed */
  float *DG;     /* [L][T][B,4H] gradients w.r.t. gate pre-activations */
  float *DCQ;    /* [T][B,2H] */
  float *DZ;     /* [T][B,H] */
  float *DQIN;   /* [T][B,H] */
  float *DS;     /* [T][B,S] */
  float *dh;     /* [L][B,H]     gradient w.r.t. each layer's h (current step) */
  float *dc;     /* [L][B,H]     same for c */
  float *dxh;    /* [B,2H] */
  float *part;   /* [lstm_step_blocks(H),B,2H]: partial sums of dxh */
  float *dht;    /* [B,H] */
  float *dfeed;  /* [B,H]        gradient w.r.t. the previous step's h~ */
} AttnTape;

/* How many blocks of streams the decoder's steps run in, one per thread
** (lstm_row_blocks with the decoder's limit: 112 units, or any width whose
** weights are packed); 1: whole steps, each split by units. */
int attn_decoder_row_blocks(const AttnDec *d);

/* The tape of ws for d's sizes: 0, or -1 if the sizes are invalid. */
int attn_decoder_tape(const AttnDec *d, const void *ws, AttnTape *t);

/* The attention weights [T,B,S] of the last forward that used ws. */
const float *attn_decoder_weights(const AttnDec *d, const void *ws);

#endif
