# expect 4:33: adam has no setting 'momentum' (it takes lr, betas, eps, clip, decay)
input x = 1
output x
train adam(lr = 1e-3, clip = 1, momentum = 0.9)
