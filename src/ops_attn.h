/*
** ops_attn.h — the ATTN_DEC graph op: the fused input-feeding attention
** decoder of attn.c as one node, and the accessors the front ends need.
**
** Inputs: in[0] target embeddings [T,B,E]; in[1] memory [S,B,H] (the
** encoder LSTM node's output); in[2] source lengths [B] (integers stored as
** floats, NF_NOGRAD); in[3] the encoder LSTM node itself (its final state
** starts the decoder and receives the decoder's dh0, dc0); then per layer
** l < L: W_ih_l ([4H, E+H] for l = 0, [4H,H] above), W_hh_l [4H,H],
** b_l [4H]; then W_in [H,H] and W_c [H,2H].  So nin = 6 + 3L.
** Attributes: iattr[0] = L (layers), fattr[0] = dropout p between layers.
** Value: h~ for every step, [T,B,H].
*/
#ifndef GR_OPS_ATTN_H
#define GR_OPS_ATTN_H
#include "graph.h"

/* The op functions (contracts: OpDef in graph.h), for its row in ops.c. */
int  attn_dec_shape(Node *n, Err *e);
void attn_dec_fwd(Node *n, Exec *ex);
void attn_dec_bwd(Node *n, Exec *ex);

/* The attention weights [T,B,S] of n's last forward (for --show-attention),
** with its sizes in *T, *B, *S; NULL if n has not run forward. */
const float *attn_dec_weights(const Node *n, int *T, int *B, int *S);

/* The last forward's call (sizes, inputs, outputs) and its tape, for
** --trace; NULL if n has not run forward. */
struct AttnTape;
const struct AttnDec *attn_dec_last(const Node *n, struct AttnTape *t);

/* Truncated backprop through a long target: with on = 1, n's next forwards
** start from the final state (h, c, h~) of its previous forward instead of
** the encoder's state and zero feed, and pass no gradient to the encoder's
** state (the carried state is detached, as in bench/torch_ref.py).  The trainer
** turns it on for every bptt chunk after a bundle's first, and off again
** for a new bundle.  Ignored (with a fresh start) if there is no previous
** forward of the same batch size. */
void attn_dec_carry(Node *n, int on);

/* Beam search (decode.c): rearranges the final state (h, c, h~) of n's last
** forward over its B batch rows, row i taking row rows[i] (in [0,B)), so
** that a carried next forward continues the reordered hypotheses.  No-op
** unless n's last forward had batch size B. */
void attn_dec_reorder(Node *n, const int *rows, int B);

#endif
