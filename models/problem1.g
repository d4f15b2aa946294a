# Problem 1.1: one ReLU layer, all scalars.
#   z5 = w2 * ReLU(w1 * x + b1) + b2
# graphrun models/problem1.g --trace   prints the forward pass and backprop.
input x  = 1
param w1 = 1/4
param b1 = 0
param w2 = 1/3
param b2 = 0

z1 = w1 * x
z2 = z1 + b1
z3 = relu(z2)
z4 = w2 * z3
z5 = z4 + b2
output z5
