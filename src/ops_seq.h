/*
** ops_seq.h — graph ops for sequence models: EMBED, DROPOUT, LSTM, XENT.
** They wrap the fused kernels of lstm.c and seqk.c in the op-table contract
** of graph.h (shape rule, forward, backward that adds into inputs' grads).
**
** Node conventions (what the builder sets up):
**   EMBED   in[0] = E param [V,d], in[1] = ids [...] (floats, NF_NOGRAD)
**           -> [..., d];  iattr[0] = padding id (no gradient) or -1.
**   DROPOUT in[0] = x -> same shape;  fattr[0] = p.  Identity unless
**           ex->training; the mask (n->aux[0]) is drawn from ex->rng.
**   LSTM    in[0] = x [T,B,D]; in[1..3L] = W_ih, W_hh, b per layer
**           ([4H,in], [4H,H], [4H]; gates i,f,g,o as in lstm.h);
**           then, in this order and only if flagged in iattr[2]:
**             & 1: lengths [B] (NF_NOGRAD; integers in [0,T]);
**             & 2: init link: another LSTM node (the encoder) whose final
**                  state is this node's initial state; backward sends
**                  dh0, dc0 into that node's final-state gradient;
**             & 4: carried state: the final state is kept in n->state and
**                  is the next pass's initial state (no gradient through
**                  it).  seqop_lstm_reset() starts over (zeros, or the init
**                  link if & 2).
**           iattr[0] = L, iattr[1] = H, fattr[0] = dropout between layers.
**           -> y [T,B,H].  n->aux[0] = final state [2,L,B,H] (hN then cN),
**           n->aux[1] = its gradient (what a linked decoder adds into).
**   XENT    in[0] = logits [..., V], in[1] = targets [...] (NF_NOGRAD);
**           iattr[0] = ignore id or -1 -> scalar mean NLL over counted
**           targets; n->state is an XentStat (sum, count) for the trainer.
**           When in[0] is a product ops_fuse marked NF_LAZY and the run
**           asks for it (Exec.fused_loss), XENT computes that product
**           itself on the counted rows only (seqk_xentmm_*) and writes the
**           gradients of its inputs; in[0]'s value is then set only when
**           every row counts, and only until the backward.
*/
#ifndef GR_OPS_SEQ_H
#define GR_OPS_SEQ_H
#include "graph.h"

/* The LSTM node's iattr[2] flags (above). */
enum { LSTM_LEN = 1, LSTM_INIT = 2, LSTM_CARRY = 4 };

/* What an XENT node leaves for the trainer after each forward. */
typedef struct XentStat {
  double sum;      /* sum of -log p over the counted targets */
  long count;      /* targets counted (not the ignore id) */
} XentStat;

/* The XentStat of an XENT node, or NULL before its first forward. */
const XentStat *seqop_xent_stat(const Node *n);

/* An LSTM node with carried state (iattr[2] & 4): forget it, so that the
** next pass starts from zeros or from the init link.  Call at the start of
** an epoch (lm) or of each bundle (translation).  No-op for other nodes. */
void seqop_lstm_reset(Node *n);
/* The OpDef carry hook: on = 0 is seqop_lstm_reset; on = 1 changes nothing,
** since a node with carried state (iattr[2] & 4) always goes on. */
void seqop_lstm_carry(Node *n, int on);

/* Beam search (decode.c): rearranges the carried state of an LSTM node with
** carried state over its B batch rows, row i taking the state of row
** rows[i] (rows[i] in [0,B)).  No-op unless the node holds a carried state
** for batch size B. */
void seqop_lstm_reorder(Node *n, const int *rows, int B);

/* An lstm node's final state, for an op that starts from it (the attention
** decoder, ops_attn.c) and sends back the gradient of it.  Returns 1 if
** enc is an lstm node, else 0; then writes each non-NULL out pointer: L, H
** from its attributes and shapes (valid after shape inference); hN, cN
** [L,B,H] its last forward's final state (NULL before any forward); dhN,
** dcN [L,B,H] the buffers its backward reads as the gradient of that state,
** which the starting op adds into (the lstm op zeroes them in its forward;
** NULL if it takes none). */
int seqop_lstm_final(Node *enc, int *L, int *H, const float **hN, const float **cN,
                     float **dhN, float **dcN);

/* The last forward of an LSTM node (its gates, c, h per layer and step:
** lstm.h), for --trace; *from_init (if given) says whether it started from
** its init link.  NULL before the first forward. */
struct LstmRun;
const struct LstmRun *seqop_lstm_run(const Node *n, int *from_init);

/* The op functions, for their rows in ops.c. */
GR_OP_FUNCS(seqop_embed);
GR_OP_FUNCS(seqop_dropout);
GR_OP_FUNCS(seqop_lstm);
GR_OP_FUNCS(seqop_xent);

#endif
