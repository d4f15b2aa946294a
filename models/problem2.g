# Problem 2: simplified multi-head self-attention, node by node.
#
# H heads, T steps, model dimension d.  For head i and step t:
#   q[i,t] = WQ[i] x[t],  k[i,t] = WK[i] x[t],  v[i,t] = WV[i] x[t]
#   alpha[s,i,t] = k[i,s] . q[i,t]                       (score of step s)
#   beta[1..T,i,t] = softmax(alpha[1..T,i,t])            (one softmax per (i,t))
#   a[i,t] = sum over s of beta[s,i,t] v[i,s]
#   h[i,t] = a[i,t] + q[i,t]
#   z[t]   = W (h[1,t] ⊕ ... ⊕ h[H,t])
# Change H, T, d and the values below: the loops unroll to one node each.
const H = 2
const T = 2
const d = 2

input x[1] = [1, 2]
input x[2] = [-1, 3]

param WQ[1]: [d/H, d] = [[1, 0]]
param WK[1]: [d/H, d] = [[1, 0]]
param WV[1]: [d/H, d] = [[1, 0]]
param WQ[2]: [d/H, d] = [[0, 1]]
param WK[2]: [d/H, d] = [[0, 1]]
param WV[2]: [d/H, d] = [[0, 1]]
param W: [d, d] = [[1, 0], [0, 1]]

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

# A scalar to backpropagate from: every weight gets a gradient.
loss = sum(z[1]) + sum(z[2])
output z[1], z[2], loss
