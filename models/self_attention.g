# The layer of Problem 2 in matrix form: one row of X per step.
# For head i: Q = X WQᵀ, K = X WKᵀ, V = X WVᵀ (each [T, d/H]);
# S[t,s] = q_t . k_s is the [T, T] score matrix; softmax runs along each row;
# A = B V; Hd = A + Q; the heads are joined column-wise and Z = [Hd_1 ... Hd_H] Wᵀ.
# Row t of Z equals z[t] of problem2.g (tests/test_attention_model.c checks it).
const H = 2
const T = 2
const d = 2

input X: [T, d] = [[1, 2], [-1, 3]]

param WQ[1]: [d/H, d] = [[1, 0]]
param WK[1]: [d/H, d] = [[1, 0]]
param WV[1]: [d/H, d] = [[1, 0]]
param WQ[2]: [d/H, d] = [[0, 1]]
param WK[2]: [d/H, d] = [[0, 1]]
param WV[2]: [d/H, d] = [[0, 1]]
param W: [d, d] = [[1, 0], [0, 1]]

for i in 1..H {
  Q[i]  = X @ transpose(WQ[i])
  K[i]  = X @ transpose(WK[i])
  V[i]  = X @ transpose(WV[i])
  S[i]  = Q[i] @ transpose(K[i])
  B[i]  = softmax(S[i])
  A[i]  = B[i] @ V[i]
  Hd[i] = A[i] + Q[i]
}
Z = concat(Hd[1..H]) @ transpose(W)
loss = sum(Z)
output Z, loss
