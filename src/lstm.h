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

#endif
