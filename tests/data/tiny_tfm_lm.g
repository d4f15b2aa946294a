# A one-layer pre-LN Transformer language model in primitives on the tiny
# corpus (models/transformer_lm.g at toy size).
data  train = "tests/data/tiny-train.txt", valid = "tests/data/tiny-valid.txt"
const d = 8
const H = 2
const dh = d / H
const F = 16
const r = 1 / sqrt(d)

param E: [V, d] ~ uniform(-0.1, 0.1)
param P: [5, d] ~ uniform(-0.1, 0.1)
param bout: [V] = 0
param ln1_g: [d] = 1
param ln1_b: [d] = 0
for i in 1..H {
  param WQ[i]: [dh, d] ~ uniform(-r, r)
  param bQ[i]: [dh] ~ uniform(-r, r)
  param WK[i]: [dh, d] ~ uniform(-r, r)
  param bK[i]: [dh] ~ uniform(-r, r)
  param WV[i]: [dh, d] ~ uniform(-r, r)
  param bV[i]: [dh] ~ uniform(-r, r)
}
param Wo: [d, d] ~ uniform(-r, r)
param bo: [d] ~ uniform(-r, r)
param ln2_g: [d] = 1
param ln2_b: [d] = 0
param W1: [F, d] ~ uniform(-r, r)
param b1: [F] ~ uniform(-r, r)
param W2: [d, F] ~ uniform(-1/sqrt(F), 1/sqrt(F))
param b2: [d] ~ uniform(-1/sqrt(F), 1/sqrt(F))
param lnf_g: [d] = 1
param lnf_b: [d] = 0

X0 = dropout(embed(E, x, pad = 0) + positions(P, x), 0.2)
A  = layer_norm(X0, ln1_g, ln1_b)
for i in 1..H {
  q[i] = A @ transpose(WQ[i]) + bQ[i]
  k[i] = A @ transpose(WK[i]) + bK[i]
  v[i] = A @ transpose(WV[i]) + bV[i]
  Pr[i] = causal_softmax(scores(q[i], k[i]) / sqrt(dh))
  Hd[i] = attend(Pr[i], v[i])
}
X1 = X0 + dropout(concat(Hd[1..H]) @ transpose(Wo) + bo, 0.2)
X2 = X1 + dropout(relu(layer_norm(X1, ln2_g, ln2_b) @ transpose(W1) + b1) @ transpose(W2) + b2, 0.2)
logits = layer_norm(X2, lnf_g, lnf_b) @ transpose(E) + bout
loss   = cross_entropy(logits, y)
output loss

train adam(lr = 0.01, betas = [0.9, 0.98], eps = 1e-8, clip = 1, decay = 4), batch = 3, bptt = 5, epochs = 3, seed = 1111
