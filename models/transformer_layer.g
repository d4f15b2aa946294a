# One pre-LN Transformer decoder layer written out in primitives, the heads
# as Problem 2 writes them (q, k, v per head; z = W_o (h_1 ⊕ ... ⊕ h_H)),
# with what Problem 2 leaves out: scaling, the causal mask, layer norm,
# the FFN and the residuals.  tests/test_tfm_model.c runs the fused
# `transformer` kernels on the same weights and checks that values and
# gradients agree: the fast path is trusted because of this file.
# Time-major like the language models: X is [T, B, d] (T steps of B streams).
const T = 3
const B = 2
const d = 4
const H = 2
const dh = d / H
const F = 6

input X: [T, B, d] = [[[0.5, -1, 2, 0], [1, 0.25, -0.5, 1.5]],
                      [[-2, 1, 0, 0.5], [0.3, -0.7, 1.1, -0.2]],
                      [[1, 1, -1, -1], [0, 2, 0.5, -1.5]]]

param ln1_g: [d] ~ uniform(0.5, 1.5)
param ln1_b: [d] ~ uniform(-0.5, 0.5)
for i in 1..H {
  param WQ[i]: [dh, d] ~ uniform(-0.5, 0.5)
  param bQ[i]: [dh] ~ uniform(-0.5, 0.5)
  param WK[i]: [dh, d] ~ uniform(-0.5, 0.5)
  param bK[i]: [dh] ~ uniform(-0.5, 0.5)
  param WV[i]: [dh, d] ~ uniform(-0.5, 0.5)
  param bV[i]: [dh] ~ uniform(-0.5, 0.5)
}
param Wo: [d, d] ~ uniform(-0.5, 0.5)
param bo: [d] ~ uniform(-0.5, 0.5)
param ln2_g: [d] ~ uniform(0.5, 1.5)
param ln2_b: [d] ~ uniform(-0.5, 0.5)
param W1: [F, d] ~ uniform(-0.5, 0.5)
param b1: [F] ~ uniform(-0.5, 0.5)
param W2: [d, F] ~ uniform(-0.5, 0.5)
param b2: [d] ~ uniform(-0.5, 0.5)

A = layer_norm(X, ln1_g, ln1_b)
for i in 1..H {
  Q[i] = A @ transpose(WQ[i]) + bQ[i]             # [T, B, dh]
  K[i] = A @ transpose(WK[i]) + bK[i]
  V[i] = A @ transpose(WV[i]) + bV[i]
  S[i] = scores(Q[i], K[i]) / sqrt(dh)            # [B, T, T]: q_t . k_s per stream
  P[i] = causal_softmax(S[i])                     # step t sees steps 1..t
  Hd[i] = attend(P[i], V[i])                      # [T, B, dh]: sum over s of P[t,s] v_s
}
X1 = X + concat(Hd[1..H]) @ transpose(Wo) + bo
N2 = layer_norm(X1, ln2_g, ln2_b)
Y  = X1 + relu(N2 @ transpose(W1) + b1) @ transpose(W2) + b2

# A scalar that weighs every output differently, so every gradient matters.
input R: [T, B, d] = [[[1, -2, 0.5, 1], [-1, 0.5, 2, -0.5]],
                      [[0.5, 1, -1, 2], [2, -1, 0.5, 1]],
                      [[-0.5, 2, 1, -1], [1, 1, -2, 0.5]]]
loss = sum(Y * R)
output Y, loss
