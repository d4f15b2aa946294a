# models/transformer_lm.g with its layers written out: the heads as
# Problem 2 writes them -- q, k and v per head, z = W_o (h_1 ⊕ ... ⊕ h_H) --
# with what Problem 2 leaves out: scaling by sqrt(dh), the causal mask,
# layer norm before each sublayer, the FFN, residuals, dropout, positions.
# The same model as the fused `transformer` block computes (at toy size,
# tests/test_tfm_model.c checks equal losses and gradients); slower.
#   graphrun models/transformer_lm_heads.g --train
# Each bptt window is read on its own (no state carries over); P has a row
# per position of a window, so bptt can be at most Tmax.
data  train = "data/train.txt", valid = "data/valid.txt"
const d = 128                     # model width
const H = 4                       # heads
const dh = d / H                  # width of a head
const F = 512                     # FFN width
const L = 2                       # layers
const Tmax = 35                   # positions (= bptt)
const p = 0.2                     # dropout
const r = 1 / sqrt(d)             # linear layers start in uniform(-r, r), r = 1/sqrt(fan_in)
const rF = 1 / sqrt(F)

param E: [V, d] ~ uniform(-0.1, 0.1)      # embeddings, tied to the output layer
param P: [Tmax, d] ~ uniform(-0.1, 0.1)   # positions
param bout: [V] = 0
for l in 1..L {
  param ln1_g[l]: [d] = 1
  param ln1_b[l]: [d] = 0
  for i in 1..H {
    param WQ[l,i]: [dh, d] ~ uniform(-r, r)
    param bQ[l,i]: [dh] ~ uniform(-r, r)
    param WK[l,i]: [dh, d] ~ uniform(-r, r)
    param bK[l,i]: [dh] ~ uniform(-r, r)
    param WV[l,i]: [dh, d] ~ uniform(-r, r)
    param bV[l,i]: [dh] ~ uniform(-r, r)
  }
  param Wo[l]: [d, d] ~ uniform(-r, r)
  param bo[l]: [d] ~ uniform(-r, r)
  param ln2_g[l]: [d] = 1
  param ln2_b[l]: [d] = 0
  param W1[l]: [F, d] ~ uniform(-r, r)
  param b1[l]: [F] ~ uniform(-r, r)
  param W2[l]: [d, F] ~ uniform(-rF, rF)
  param b2[l]: [d] ~ uniform(-rF, rF)
}
param lnf_g: [d] = 1
param lnf_b: [d] = 0

X[0] = dropout(embed(E, x, pad = 0) + positions(P, x), p)       # [T, B, d]
for l in 1..L {
  A[l] = layer_norm(X[l-1], ln1_g[l], ln1_b[l])
  for i in 1..H {
    q[l,i] = A[l] @ transpose(WQ[l,i]) + bQ[l,i]                # [T, B, dh]
    k[l,i] = A[l] @ transpose(WK[l,i]) + bK[l,i]
    v[l,i] = A[l] @ transpose(WV[l,i]) + bV[l,i]
    beta[l,i] = causal_softmax(scores(q[l,i], k[l,i]) / sqrt(dh))   # [B, T, T]
    h[l,i] = attend(beta[l,i], v[l,i])                          # [T, B, dh]
  }
  Z[l] = X[l-1] + dropout(concat(h[l,1..H]) @ transpose(Wo[l]) + bo[l], p)
  X[l] = Z[l] + dropout(relu(layer_norm(Z[l], ln2_g[l], ln2_b[l]) @ transpose(W1[l]) + b1[l]) @ transpose(W2[l]) + b2[l], p)
}
logits = layer_norm(X[L], lnf_g, lnf_b) @ transpose(E) + bout
loss   = cross_entropy(logits, y)
output loss

train adam(lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, clip = 1, decay = 4), batch = 20, bptt = 35, epochs = 10, seed = 1111
