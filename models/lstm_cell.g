# An LSTM layer written out in primitives, one node per gate and step.
# tests/test_train.c runs the fused `lstm` block on the same weights and
# checks that values and gradients agree: the fast path is trusted because
# of this file.  Gate order i, f, g, o as in PyTorch.
const T = 3
const D = 3
const H = 2

input x[1] = [0.5, -1, 2]
input x[2] = [1, 0.25, -0.5]
input x[3] = [-2, 1, 0]
input h[0]: [H] = 0
input c[0]: [H] = 0

param Wi: [H, D] ~ uniform(-0.5, 0.5)
param Wf: [H, D] ~ uniform(-0.5, 0.5)
param Wg: [H, D] ~ uniform(-0.5, 0.5)
param Wo: [H, D] ~ uniform(-0.5, 0.5)
param Ui: [H, H] ~ uniform(-0.5, 0.5)
param Uf: [H, H] ~ uniform(-0.5, 0.5)
param Ug: [H, H] ~ uniform(-0.5, 0.5)
param Uo: [H, H] ~ uniform(-0.5, 0.5)
param bi: [H] ~ uniform(-0.5, 0.5)
param bf: [H] ~ uniform(-0.5, 0.5)
param bg: [H] ~ uniform(-0.5, 0.5)
param bo: [H] ~ uniform(-0.5, 0.5)

for t in 1..T {
  i[t] = sigmoid(Wi @ x[t] + Ui @ h[t-1] + bi)
  f[t] = sigmoid(Wf @ x[t] + Uf @ h[t-1] + bf)
  g[t] = tanh(Wg @ x[t] + Ug @ h[t-1] + bg)
  o[t] = sigmoid(Wo @ x[t] + Uo @ h[t-1] + bo)
  c[t] = f[t] * c[t-1] + i[t] * g[t]
  h[t] = o[t] * tanh(c[t])
}
# A scalar that weighs every output differently, so every gradient matters.
loss = sum(t in 1..T: h[t] . [1, -2] * t)
output h[1], h[2], h[3], loss
