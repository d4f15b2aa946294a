# expect 4:20: only one optimizer (sgd(...) or adam(...)) per 'train' statement
input x = 1
output x
train sgd(lr = 1), adam(lr = 1e-3)
