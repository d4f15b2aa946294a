/*
** ops_tfm.h — graph ops for Transformers: LAYER_NORM, CAUSAL_SOFTMAX,
** SCORES, ATTEND, POSITIONS.  Primitives, usable in any model; the fused
** kernels of tfm.c do the work where they can.
**
** Node conventions (time-major, as the sequence ops: axis 0 is the step):
**   LAYER_NORM     layer_norm(x [..., d], g [d], b [d]) -> [..., d]:
**                  (x - mean) / sqrt(var + 1e-5) * g + b over the last axis
**                  (biased variance, PyTorch's eps).  aux[0], aux[1] = the
**                  rows' mean and 1/std for backward.
**   CAUSAL_SOFTMAX causal_softmax(S [..., T, T]) -> same: each row t a
**                  softmax over columns 0..t, columns after t exactly 0.
**   SCORES         scores(q, k), both [T, R..., e] -> [R..., T, T]:
**                  S[r, t, s] = q[t, r] . k[s, r], one product per r (a
**                  stream, or a stream and a head: R... is one or two axes).
**   ATTEND         attend(P [R..., T, T], v [T, R..., e]) -> [T, R..., e]:
**                  out[t, r] = sum over s of P[r, t, s] v[s, r].
**   POSITIONS      positions(P [Tmax, d], x [T, ...]) -> [T, ..., d]:
**                  out[t, ...] = P[t] (x gives only the shape; T <= Tmax).
**   TRANSFORMER    the fused pre-LN decoder layers of tfm.h (made by the
**                  `transformer` block): in[0] = x [T,B,d], then for each
**                  layer l its TFM_NW parameters in tfm.h's order,
**                  in[1 + TFM_NW*l + k]; iattr[0] = L, iattr[1] = heads,
**                  fattr[0] = dropout on the residual branches -> [T,B,d].
**                  n->state keeps the run (TfmRun) from forward to backward.
*/
#ifndef GR_OPS_TFM_H
#define GR_OPS_TFM_H
#include "graph.h"

GR_OP_FUNCS(tfmop_ln);
GR_OP_FUNCS(tfmop_csm);
GR_OP_FUNCS(tfmop_scores);
GR_OP_FUNCS(tfmop_attend);
GR_OP_FUNCS(tfmop_pos);
GR_OP_FUNCS(tfmop_block);

/* Folds the last forward's ReLU pattern (which FFN units were on) into the
** FNV-1a hash h: gradcheck tells a step that crossed a kink by it. */
unsigned long tfmop_relu_hash(const Node *n, unsigned long h);
/* The last forward's attention weights of layer l, stream b, head h
** ([T,T]; row t over steps 0..t), or NULL before a forward. */
const float *tfmop_attention(const Node *n, int l, int b, int h, int *T);

#endif
