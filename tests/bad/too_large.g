# expect 2:11: shape has 1e+10 elements, more than the limit of 2147483648
param W: [100000, 100000] ~ uniform(-1, 1)
output W
