# tests/data/tiny_tfm_block.g without dropout: the same numbers over any
# number of processes (tests/test_dist.c) and in PyTorch (tests/tfm_torch.py,
# tests/test_tfm_model.c).
data  train = "tests/data/tiny-train.txt", valid = "tests/data/tiny-valid.txt"
const d = 8

param E: [V, d] ~ uniform(-0.1, 0.1)
param P: [5, d] ~ uniform(-0.1, 0.1)
param bout: [V] = 0
param lnf_g: [d] = 1
param lnf_b: [d] = 0
block tf = transformer(d = d, heads = 2, ffn = 16, layers = 1, dropout = 0)

X0     = dropout(embed(E, x, pad = 0) + positions(P, x), 0)
logits = layer_norm(tf(X0), lnf_g, lnf_b) @ transpose(E) + bout
loss   = cross_entropy(logits, y)
output loss

train adam(lr = 0.01, betas = [0.9, 0.98], eps = 1e-8, clip = 1, decay = 4), batch = 3, bptt = 5, epochs = 3, seed = 1111
