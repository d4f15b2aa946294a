# expect 4:26: each of 'betas' must be from 0 to below 1, got 1
input x = 1
output x
train adam(betas = [0.9, 1])
