# Luong attention with input feeding, written out in primitives for one
# sentence: an LSTM encoder over S source vectors, and a decoder that starts
# from the encoder's final state.  At each step t:
#   u[t]  = e[t] ⊕ ht[t-1]                        (input feeding; ht[0] = 0)
#   h[t], c[t]: an LSTM cell on u[t]
#   score[j,t] = m[j] . (Win h[t])                 (Luong's "general" score)
#   a[1..S,t]  = softmax(score[1..S,t])
#   ctx[t] = sum_j a[j,t] m[j];   ht[t] = tanh(Wc (ctx[t] ⊕ h[t]))
# tests/test_train.c checks that the fused attn_lstm block gives the same
# values and gradients.
const S = 3
const T = 2
const D = 2
const H = 2

input xs[1] = [1, -0.5]
input xs[2] = [0.25, 2]
input xs[3] = [-1, 0.5]
input e[1]  = [0.5, 1]
input e[2]  = [-2, 0.25]
input m[0]: [H] = 0
input cs[0]: [H] = 0
input ht[0]: [H] = 0

# encoder (PyTorch gate order i, f, g, o)
param EWi: [H, D] ~ uniform(-0.6, 0.6)
param EWf: [H, D] ~ uniform(-0.6, 0.6)
param EWg: [H, D] ~ uniform(-0.6, 0.6)
param EWo: [H, D] ~ uniform(-0.6, 0.6)
param EUi: [H, H] ~ uniform(-0.6, 0.6)
param EUf: [H, H] ~ uniform(-0.6, 0.6)
param EUg: [H, H] ~ uniform(-0.6, 0.6)
param EUo: [H, H] ~ uniform(-0.6, 0.6)
param Ebi: [H] ~ uniform(-0.6, 0.6)
param Ebf: [H] ~ uniform(-0.6, 0.6)
param Ebg: [H] ~ uniform(-0.6, 0.6)
param Ebo: [H] ~ uniform(-0.6, 0.6)
for j in 1..S {
  ei[j] = sigmoid(EWi @ xs[j] + EUi @ m[j-1] + Ebi)
  ef[j] = sigmoid(EWf @ xs[j] + EUf @ m[j-1] + Ebf)
  eg[j] = tanh(EWg @ xs[j] + EUg @ m[j-1] + Ebg)
  eo[j] = sigmoid(EWo @ xs[j] + EUo @ m[j-1] + Ebo)
  cs[j] = ef[j] * cs[j-1] + ei[j] * eg[j]
  m[j]  = eo[j] * tanh(cs[j])
}

# decoder
param Wi: [H, D + H] ~ uniform(-0.6, 0.6)
param Wf: [H, D + H] ~ uniform(-0.6, 0.6)
param Wg: [H, D + H] ~ uniform(-0.6, 0.6)
param Wo: [H, D + H] ~ uniform(-0.6, 0.6)
param Ui: [H, H] ~ uniform(-0.6, 0.6)
param Uf: [H, H] ~ uniform(-0.6, 0.6)
param Ug: [H, H] ~ uniform(-0.6, 0.6)
param Uo: [H, H] ~ uniform(-0.6, 0.6)
param bi: [H] ~ uniform(-0.6, 0.6)
param bf: [H] ~ uniform(-0.6, 0.6)
param bg: [H] ~ uniform(-0.6, 0.6)
param bo: [H] ~ uniform(-0.6, 0.6)
param Win: [H, H] ~ uniform(-0.6, 0.6)
param Wc: [H, 2 * H] ~ uniform(-0.6, 0.6)
h[0] = m[S]
c[0] = cs[S]
for t in 1..T {
  u[t] = concat(e[t], ht[t-1])
  i[t] = sigmoid(Wi @ u[t] + Ui @ h[t-1] + bi)
  f[t] = sigmoid(Wf @ u[t] + Uf @ h[t-1] + bf)
  g[t] = tanh(Wg @ u[t] + Ug @ h[t-1] + bg)
  o[t] = sigmoid(Wo @ u[t] + Uo @ h[t-1] + bo)
  c[t] = f[t] * c[t-1] + i[t] * g[t]
  h[t] = o[t] * tanh(c[t])
  q[t] = Win @ h[t]
  for j in 1..S {
    score[j,t] = m[j] . q[t]
  }
  a[1..S,t] = softmax(score[1..S,t])
  ctx[t] = sum(j in 1..S: a[j,t] * m[j])
  ht[t] = tanh(Wc @ concat(ctx[t], h[t]))
}
loss = sum(t in 1..T: ht[t] . [1, -2] * t)
output ht[1], ht[2], loss
