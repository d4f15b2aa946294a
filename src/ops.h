/*
** ops.h — the list of operations.  One X-macro line per op; the table in
** ops.c has one row per line (graph.h's OpDef: spelling, arity, kernels,
** trace rule), which the builder, the trace and the drawings read.
** Adding an op: a line here, a row and its kernels in ops.c, a
** finite-difference case in tests/test_ops.c (docs/internals.md).
*/
#ifndef GR_OPS_H
#define GR_OPS_H

#define GR_OPLIST(X) \
  X(LEAF)      /* input, param, const                         */ \
  X(ADD)       /* a + b, scalars and trailing dims broadcast  */ \
  X(SUB)       X(MUL) X(DIV) X(NEG) \
  X(MATMUL)    /* a @ b                                       */ \
  X(DOT)       /* u . v                                       */ \
  X(RELU)      X(TANH) X(SIGMOID) X(EXP) X(LOG) \
  X(SOFTMAX)   /* over the last axis                          */ \
  X(SUM)       /* sum of all elements                         */ \
  X(ADDN)      /* sum of a list of same-shaped nodes          */ \
  X(CONCAT)    /* along the last axis                         */ \
  X(STACK)     /* list of same-shaped nodes -> one more axis  */ \
  X(PICK)      /* element / row iattr[0] of the first axis    */ \
  X(TRANSPOSE) /* 2-D                                         */ \
  X(EMBED)     /* rows of E for token ids (ops_seq.c)         */ \
  X(DROPOUT)   /* inverted dropout, identity when not training */ \
  X(LSTM)      /* fused multi-layer LSTM over a sequence      */ \
  X(XENT)      /* fused softmax + cross-entropy, mean NLL     */ \
  X(ATTN_DEC)  /* Luong input-feeding attention decoder (ops_attn.c) */ \
  X(LAYER_NORM) /* Transformer primitives (ops_tfm.c)           */ \
  X(CAUSAL_SOFTMAX) X(SCORES) X(ATTEND) X(POSITIONS) \
  X(TRANSFORMER) /* fused pre-LN decoder layers (ops_tfm.c)   */

#define GR_OP_ENUM(name) OP_##name,
typedef enum OpKind { GR_OPLIST(GR_OP_ENUM) OP__COUNT } OpKind;
#undef GR_OP_ENUM

#endif
