# Problem 1.2: the same network with vectors.
#   z5 = u . ReLU(W x + b1) + b2
input x: [2]      = [1, 1]
param W: [2, 2]   = [[-1, -1],
                     [ 1,  1]]
param b1: [2]     = [0, 0]
param u: [2]      = [1, 1]
param b2          = 0

z1 = W @ x
z2 = z1 + b1
z3 = relu(z2)
z4 = u . z3
z5 = z4 + b2
output z5
