# models/problem2.g with its inputs and weights made by loops, so that
# --set H=3 --set T=3 builds a larger graph (tests/test_trace_seq.c: --set of a const).
const H = 2
const T = 2
const d = 6

for t in 1..T {
  input x[t]: [d] ~ uniform(-1, 1)
}
for i in 1..H {
  param WQ[i]: [d/H, d] ~ uniform(-1, 1)
  param WK[i]: [d/H, d] ~ uniform(-1, 1)
  param WV[i]: [d/H, d] ~ uniform(-1, 1)
}
param W: [d, d] ~ uniform(-1, 1)

for i in 1..H, t in 1..T {
  q[i,t] = WQ[i] @ x[t]
  k[i,t] = WK[i] @ x[t]
  v[i,t] = WV[i] @ x[t]
}
for i in 1..H, t in 1..T, s in 1..T {
  alpha[s,i,t] = k[i,s] . q[i,t]
}
for i in 1..H, t in 1..T {
  beta[1..T,i,t] = softmax(alpha[1..T,i,t])
  a[i,t] = sum(s in 1..T: beta[s,i,t] * v[i,s])
  h[i,t] = a[i,t] + q[i,t]
}
for t in 1..T {
  z[t] = W @ concat(h[1..H,t])
}
loss = sum(t in 1..T: sum(z[t]))
output loss
