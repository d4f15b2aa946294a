# expect 4:20: 'betas' must be two numbers: betas = [0.9, 0.999]
input x = 1
output x
train adam(betas = 0.9)
