# Problem 1.1 with a skip connection: z6 = z5 + x.
# x now reaches z6 along two paths, so backprop adds two contributions.
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
z6 = z5 + x
output z6
